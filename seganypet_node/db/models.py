"""SQLAlchemy 2.0 models: study, series, instance, job, outbound transfer, review users and
their audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from seganypet_node.db.states import (
    AuditAction,
    CompletionRule,
    JobState,
    OutboundState,
    SeriesState,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def _state(enum_type: type, length: int = 16) -> Enum:
    return Enum(enum_type, native_enum=False, length=length, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str | None] = mapped_column(String(64))
    study_date: Mapped[str | None] = mapped_column(String(8))
    accession_number: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Series(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str] = mapped_column(String(16))
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    frame_of_reference_uid: Mapped[str | None] = mapped_column(String(64))
    series_number: Mapped[int | None] = mapped_column(Integer)
    calling_ae: Mapped[str] = mapped_column(String(16))
    expected_instances: Mapped[int | None] = mapped_column(Integer)
    received_instances: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[SeriesState] = mapped_column(_state(SeriesState), index=True)
    completion_rule: Mapped[CompletionRule | None] = mapped_column(_state(CompletionRule))
    # Why the series gets no segmentation job (CT, non-attenuation-corrected PET, ...).
    skip_reason: Mapped[str | None] = mapped_column(Text)
    first_received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Instance(Base):
    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    # Relative to the spool directory; built from validated UIDs only.
    spool_path: Mapped[str] = mapped_column(String(240))
    size_bytes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Of the acknowledged bytes; None for rows stored before revision 0004.
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Re-sends of this UID with other content (refused; the first copy kept).
    conflicts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One job per series, whatever the number of completions or retries.
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), unique=True)
    state: Mapped[JobState] = mapped_column(_state(JobState), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A done job's caveats: organs reported not found by the plausibility checks, bounds hit.
    note: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # The review user who verified the results, and when (None: not verified).
    verified_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Outbound(Base):
    __tablename__ = "outbound"
    __table_args__ = (UniqueConstraint("job_id", "sop_instance_uid", "destination_ae"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"), index=True)
    object_kind: Mapped[str] = mapped_column(String(16))
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    spool_path: Mapped[str] = mapped_column(String(240))
    destination_ae: Mapped[str] = mapped_column(String(16))
    destination_host: Mapped[str] = mapped_column(String(253))
    destination_port: Mapped[int] = mapped_column(Integer)
    state: Mapped[OutboundState] = mapped_column(_state(OutboundState), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Not before this time (exponential backoff after a failure).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ReviewUser(Base):
    """A person who may log in to the review service (``seganypet-node user add``)."""

    __tablename__ = "review_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(128))
    organisation: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2id, with its parameters
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Who did what, when, through the review service. Rows are only ever added."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    user_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[AuditAction] = mapped_column(_state(AuditAction, 32))
    # No foreign key: the log outlives what it names.
    job_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")
