"""Database side of receiving: study/series/instance rows, series completion, job creation.

Every function works inside the caller's transaction and is safe against concurrent
associations on SQLite (serialised writers) and PostgreSQL (row locks, ON CONFLICT). They use
SQLAlchemy Core on a :class:`~sqlalchemy.engine.Connection`, with statements built once: at
hundreds of instances a second the ORM's per-statement bookkeeping was most of the cost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from seganypet_node.db.jobs import DEFAULT_MAX_ATTEMPTS
from seganypet_node.db.models import Base, Instance, Job, Series, Study
from seganypet_node.db.rows import InstanceHeader
from seganypet_node.db.states import CompletionRule, JobState, SeriesState

_STUDY, _SERIES, _INSTANCE, _JOB = (
    Base.metadata.tables[model.__tablename__] for model in (Study, Series, Instance, Job))

_SERIES_ID = select(_SERIES.c.id).where(_SERIES.c.series_uid == bindparam("uid"))
_SERIES_KIND = select(_SERIES.c.id, _SERIES.c.modality, _SERIES.c.sop_class_uid).where(
    _SERIES.c.series_uid == bindparam("uid"))
# A series that mixes modalities or SOP classes is stored but never segmented.
_MIXED = (
    update(_SERIES)
    .where(_SERIES.c.id == bindparam("series"), _SERIES.c.skip_reason.is_(None))
    .values(skip_reason=bindparam("reason"))
)
_CONFLICT = (
    update(_INSTANCE)
    .where(_INSTANCE.c.sop_instance_uid == bindparam("uid"))
    .values(conflicts=_INSTANCE.c.conflicts + 1)
)
_STUDY_ID = select(_STUDY.c.id).where(_STUDY.c.study_uid == bindparam("uid"))
_STORED_PATH = select(_INSTANCE.c.spool_path).where(
    _INSTANCE.c.sop_instance_uid == bindparam("uid"))
_JOB_ID = select(_JOB.c.id).where(_JOB.c.series_id == bindparam("series"))
# One UPDATE .. RETURNING: the row lock makes the count exact under concurrent inserts.
_COUNT_INSTANCE = (
    update(_SERIES)
    .where(_SERIES.c.id == bindparam("series"))
    .values(received_instances=_SERIES.c.received_instances + 1,
            last_received_at=bindparam("now", type_=_SERIES.c.last_received_at.type))
    .returning(_SERIES.c.received_instances, _SERIES.c.expected_instances, _SERIES.c.state)
)
_COMPLETE = (
    update(_SERIES)
    .where(_SERIES.c.id == bindparam("series"), _SERIES.c.state == SeriesState.RECEIVING)
    .values(state=SeriesState.COMPLETE, completion_rule=bindparam("rule"),
            completed_at=bindparam("now", type_=_SERIES.c.completed_at.type))
    .returning(_SERIES.c.skip_reason, _SERIES.c.received_instances)
)
_QUIET = select(_SERIES.c.id).where(
    _SERIES.c.state == SeriesState.RECEIVING,
    _SERIES.c.last_received_at < bindparam("since", type_=_SERIES.c.last_received_at.type),
    _SERIES.c.received_instances > 0,
)


@dataclass(frozen=True)
class RecordedInstance:
    """What recording one instance did.

    Parameters
    ----------
    duplicate : bool
        The SOP Instance UID was already stored; nothing changed.
    series_id : int | None
        Row id of the instance's series (None for a duplicate whose series was never made).
    job_id : int | None
        The job created because this instance completed its series.
    late : bool
        The instance arrived after its series had been declared complete.
    stored_path : str | None
        For a duplicate, the spool path the first copy was recorded under.
    """

    duplicate: bool
    series_id: int | None
    job_id: int | None = None
    late: bool = False
    stored_path: str | None = None


def record_instance(
    connection: Connection,
    header: InstanceHeader,
    *,
    spool_path: str,
    size_bytes: int,
    transfer_syntax_uid: str,
    calling_ae: str,
    skip_reason: str | None,
    now: dt.datetime,
    sha256: str | None = None,
) -> RecordedInstance:
    """Insert the rows for a stored instance and complete its series when the count is reached.

    A UID stored already changes nothing (no series is made for it); an instance whose
    modality or SOP class differs from its series' marks the series not to be segmented.
    """
    existing = connection.scalar(_STORED_PATH, {"uid": header.sop_instance_uid})
    if existing is not None:
        return RecordedInstance(duplicate=True, series_id=None, stored_path=existing)
    kind = connection.execute(_SERIES_KIND, {"uid": header.series_uid}).first()
    if kind is None:
        series_id = _new_series(connection, header, calling_ae, skip_reason, now)
    else:
        series_id = kind.id
        _mark_if_mixed(connection, header, kind.id, kind.modality, kind.sop_class_uid)
    inserted = connection.execute(_insert_ignore(connection, _INSTANCE, "sop_instance_uid"), {
        "series_id": series_id, "sop_instance_uid": header.sop_instance_uid,
        "sop_class_uid": header.sop_class_uid, "transfer_syntax_uid": transfer_syntax_uid,
        "instance_number": header.instance_number, "spool_path": spool_path,
        "size_bytes": size_bytes, "received_at": now, "sha256": sha256, "conflicts": 0,
    }).rowcount
    if not inserted:  # a concurrent association stored the same UID first
        existing = connection.scalar(_STORED_PATH, {"uid": header.sop_instance_uid})
        return RecordedInstance(duplicate=True, series_id=series_id, stored_path=existing)
    received, expected, state = connection.execute(
        _COUNT_INSTANCE, {"series": series_id, "now": now}).one()
    if state is not SeriesState.RECEIVING:
        return RecordedInstance(duplicate=False, series_id=series_id, late=True)
    job_id = None
    if expected is not None and received >= expected:
        job_id = complete_series(connection, series_id, CompletionRule.COUNT, now)
    return RecordedInstance(duplicate=False, series_id=series_id, job_id=job_id)


def record_conflict(connection: Connection, sop_instance_uid: str) -> None:
    """Count a refused re-send of a stored UID with other content."""
    connection.execute(_CONFLICT, {"uid": sop_instance_uid})


def _mark_if_mixed(connection: Connection, header: InstanceHeader, series_id: int,
                   modality: str, sop_class_uid: str) -> None:
    if header.modality == modality and header.sop_class_uid == sop_class_uid:
        return
    what = (f"modalities {modality} and {header.modality}" if header.modality != modality
            else f"SOP classes {sop_class_uid} and {header.sop_class_uid}")
    connection.execute(_MIXED, {"series": series_id,
                                "reason": f"series mixes {what}: stored, not segmented"})


def _new_series(
    connection: Connection, header: InstanceHeader, calling_ae: str, skip_reason: str | None,
    now: dt.datetime,
) -> int:
    study_id = _upsert_id(connection, _STUDY, "study_uid", _STUDY_ID, {
        "study_uid": header.study_uid, "patient_id": header.patient_id,
        "study_date": header.study_date, "accession_number": header.accession_number,
        "created_at": now,
    })
    return _upsert_id(connection, _SERIES, "series_uid", _SERIES_ID, {
        "study_id": study_id, "series_uid": header.series_uid, "modality": header.modality,
        "sop_class_uid": header.sop_class_uid,
        "frame_of_reference_uid": header.frame_of_reference_uid,
        "series_number": header.series_number, "calling_ae": calling_ae,
        "expected_instances": header.number_of_slices, "received_instances": 0,
        "state": SeriesState.RECEIVING, "skip_reason": skip_reason,
        "first_received_at": now, "last_received_at": now,
    })


def complete_series(
    connection: Connection, series_id: int, rule: CompletionRule, now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int | None:
    """Mark a receiving series complete; create its one pending job unless it is skipped.

    Returns the new job's id, or None when the series was already complete or gets no job.
    """
    changed = connection.execute(
        _COMPLETE, {"series": series_id, "rule": rule, "now": now}).all()
    if not changed or changed[0].skip_reason is not None or not changed[0].received_instances:
        return None
    inserted = connection.execute(_insert_ignore(connection, _JOB, "series_id"), {
        "series_id": series_id, "state": JobState.PENDING, "attempts": 0,
        "max_attempts": max_attempts, "created_at": now, "updated_at": now,
    }).rowcount
    if not inserted:
        return None
    return connection.scalar(_JOB_ID, {"series": series_id})


def quiet_series(connection: Connection, quiet_since: dt.datetime) -> list[int]:
    """Ids of receiving series whose last instance arrived before ``quiet_since``."""
    return list(connection.scalars(_QUIET, {"since": quiet_since}))


def _insert_ignore(connection: Connection, table: Table, unique: str) -> Insert:
    """INSERT into ``table`` that does nothing on a conflict of its ``unique`` column."""
    return _insert_ignore_for(connection.dialect.name, table, unique)


@cache
def _insert_ignore_for(dialect: str, table: Table, unique: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=[unique])


def _upsert_id(connection: Connection, table: Table, unique: str, query: Any,
               values: dict[str, Any]) -> int:
    """Id of the row whose ``unique`` column has ``values[unique]``, inserting it if absent."""
    key = {"uid": values[unique]}
    found = connection.scalar(query, key)
    if found is None:
        connection.execute(_insert_ignore(connection, table, unique), values)
        found = connection.scalar(query, key)
    assert found is not None
    return int(found)
