"""Read-only views of the node's state for operators (`seganypet-node jobs`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from seganypet_node.db.models import Job, Series, Study


@dataclass(frozen=True)
class SeriesRow:
    """One series with its job, as an operator sees it."""

    study_uid: str
    series_uid: str
    modality: str
    received: int
    expected: int | None
    series_state: str
    completion_rule: str | None
    skip_reason: str | None
    job_id: int | None
    job_state: str | None
    attempts: int | None
    last_error: str | None
    note: str | None
    last_received_at: dt.datetime


def list_series(session: Session, limit: int = 200) -> list[SeriesRow]:
    """The most recently active series first, with their jobs."""
    rows = session.execute(
        select(Study.study_uid, Series, Job)
        .join(Study, Study.id == Series.study_id)
        .outerjoin(Job, Job.series_id == Series.id)
        .order_by(Series.last_received_at.desc())
        .limit(limit)
    ).all()
    return [
        SeriesRow(
            study_uid=study_uid, series_uid=series.series_uid, modality=series.modality,
            received=series.received_instances, expected=series.expected_instances,
            series_state=series.state.value,
            completion_rule=series.completion_rule.value if series.completion_rule else None,
            skip_reason=series.skip_reason,
            job_id=job.id if job else None, job_state=job.state.value if job else None,
            attempts=job.attempts if job else None, last_error=job.last_error if job else None,
            note=job.note if job else None,
            last_received_at=series.last_received_at,
        )
        for study_uid, series, job in rows
    ]
