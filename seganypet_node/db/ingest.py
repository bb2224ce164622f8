"""Database side of receiving: study/series/instance rows, series completion, job creation.

Every function works inside the caller's transaction and is safe against concurrent
associations on SQLite (serialised writers) and PostgreSQL (row locks, ON CONFLICT).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from seganypet_node.db.jobs import DEFAULT_MAX_ATTEMPTS
from seganypet_node.db.models import Base, Instance, Job, Series, Study
from seganypet_node.db.states import CompletionRule, JobState, SeriesState
from seganypet_node.dicom.header import InstanceHeader


@dataclass(frozen=True)
class RecordedInstance:
    """What recording one instance did.

    Parameters
    ----------
    duplicate : bool
        The SOP Instance UID was already stored; nothing changed.
    series_id : int
        Row id of the instance's series.
    job_id : int | None
        The job created because this instance completed its series.
    late : bool
        The instance arrived after its series had been declared complete.
    stored_path : str | None
        For a duplicate, the spool path the first copy was recorded under.
    """

    duplicate: bool
    series_id: int
    job_id: int | None = None
    late: bool = False
    stored_path: str | None = None


def record_instance(
    session: Session,
    header: InstanceHeader,
    *,
    spool_path: str,
    size_bytes: int,
    transfer_syntax_uid: str,
    calling_ae: str,
    skip_reason: str | None,
    now: dt.datetime,
) -> RecordedInstance:
    """Insert the rows for a stored instance and complete its series when the count is reached."""
    series_id = session.scalar(select(Series.id).where(Series.series_uid == header.series_uid))
    if series_id is None:
        series_id = _new_series(session, header, calling_ae, skip_reason, now)
    inserted = _insert_ignore(session, Instance, "sop_instance_uid", {
        "series_id": series_id, "sop_instance_uid": header.sop_instance_uid,
        "sop_class_uid": header.sop_class_uid, "transfer_syntax_uid": transfer_syntax_uid,
        "instance_number": header.instance_number, "spool_path": spool_path,
        "size_bytes": size_bytes, "received_at": now,
    })
    if not inserted:
        existing = session.scalar(
            select(Instance.spool_path).where(Instance.sop_instance_uid == header.sop_instance_uid)
        )
        return RecordedInstance(duplicate=True, series_id=series_id, stored_path=existing)
    # One UPDATE .. RETURNING: the row lock makes the count exact under concurrent inserts.
    received, expected, state = session.execute(
        update(Series)
        .where(Series.id == series_id)
        .values(received_instances=Series.received_instances + 1, last_received_at=now)
        .returning(Series.received_instances, Series.expected_instances, Series.state)
    ).one()
    if state is not SeriesState.RECEIVING:
        return RecordedInstance(duplicate=False, series_id=series_id, late=True)
    job_id = None
    if expected is not None and received >= expected:
        job_id = complete_series(session, series_id, CompletionRule.COUNT, now)
    return RecordedInstance(duplicate=False, series_id=series_id, job_id=job_id)


def _new_series(
    session: Session, header: InstanceHeader, calling_ae: str, skip_reason: str | None,
    now: dt.datetime,
) -> int:
    study_id = _upsert_id(session, Study, "study_uid", {
        "study_uid": header.study_uid, "patient_id": header.patient_id,
        "study_date": header.study_date, "accession_number": header.accession_number,
        "created_at": now,
    })
    return _upsert_id(session, Series, "series_uid", {
        "study_id": study_id, "series_uid": header.series_uid, "modality": header.modality,
        "sop_class_uid": header.sop_class_uid,
        "frame_of_reference_uid": header.frame_of_reference_uid,
        "series_number": header.series_number, "calling_ae": calling_ae,
        "expected_instances": header.number_of_slices, "received_instances": 0,
        "state": SeriesState.RECEIVING, "skip_reason": skip_reason,
        "first_received_at": now, "last_received_at": now,
    })


def complete_series(
    session: Session, series_id: int, rule: CompletionRule, now: dt.datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int | None:
    """Mark a receiving series complete; create its one pending job unless it is skipped.

    Returns the new job's id, or None when the series was already complete or gets no job.
    """
    changed = session.execute(
        update(Series)
        .where(Series.id == series_id, Series.state == SeriesState.RECEIVING)
        .values(state=SeriesState.COMPLETE, completion_rule=rule, completed_at=now)
        .returning(Series.skip_reason)
    ).all()
    if not changed or changed[0].skip_reason is not None:
        return None
    inserted = _insert_ignore(session, Job, "series_id", {
        "series_id": series_id, "state": JobState.PENDING, "attempts": 0,
        "max_attempts": max_attempts, "created_at": now, "updated_at": now,
    })
    if not inserted:
        return None
    return session.scalar(select(Job.id).where(Job.series_id == series_id))


def quiet_series(session: Session, quiet_since: dt.datetime) -> list[int]:
    """Ids of receiving series whose last instance arrived before ``quiet_since``."""
    return list(session.scalars(
        select(Series.id).where(
            Series.state == SeriesState.RECEIVING, Series.last_received_at < quiet_since
        )
    ))


def _insert_ignore(
    session: Session, model: type[Base], unique: str, values: dict[str, Any]
) -> bool:
    """INSERT that does nothing on a unique conflict; True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(
        insert(model).values(**values).on_conflict_do_nothing(index_elements=[unique])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _upsert_id(session: Session, model: type[Base], unique: str, values: dict[str, Any]) -> int:
    """Id of the row with ``values[unique]``, inserting it first when absent."""
    table = model.__table__
    query = select(table.c.id).where(table.c[unique] == values[unique])
    found = session.scalar(query)
    if found is None:
        _insert_ignore(session, model, unique, values)
        found = session.scalar(query)
    assert found is not None
    return int(found)
