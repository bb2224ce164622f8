"""Read-only views of the node's state for operators (`seganypet-node jobs`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seganypet_node.db.jobs import job_results_dir
from seganypet_node.db.models import Job, Outbound, Series, Study
from seganypet_node.db.states import JobState, OutboundState


@dataclass(frozen=True)
class TransferCounts:
    """A job's result transfers (objects x destinations) by state."""

    sent: int = 0
    pending: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """Every transfer queued for the job."""
        return self.sent + self.pending + self.failed

    def text(self) -> str:
        """``3/3 sent``, ``1/3 sent, 2 failed``; ``-`` when none were queued."""
        if not self.total:
            return "-"
        parts = [f"{self.sent}/{self.total} sent"]
        parts += [f"{n} {what}" for n, what in ((self.pending, "pending"),
                                                (self.failed, "failed")) if n]
        return ", ".join(parts)


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
    calling_ae: str
    results_dir: str | None
    transfers: TransferCounts
    verified_by: str | None = None


def list_series(session: Session, results_root: Path, limit: int = 200,
                job_state: JobState | None = None) -> list[SeriesRow]:
    """The most recently active series first (``job_state``: only those whose job is in
    that state), with their jobs, each done job's result folder (under ``results_root``)
    and its transfers."""
    query = (select(Study.study_uid, Series, Job)
             .join(Study, Study.id == Series.study_id)
             .outerjoin(Job, Job.series_id == Series.id))
    if job_state is not None:
        query = query.where(Job.state == job_state)
    rows = session.execute(
        query.order_by(Series.last_received_at.desc()).limit(limit)).all()
    transfers = _transfers(session, [job.id for _, _, job in rows if job is not None])
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
            calling_ae=series.calling_ae,
            results_dir=(str(job_results_dir(results_root, job.id))
                         if job and job.state is JobState.DONE else None),
            transfers=transfers.get(job.id, TransferCounts()) if job else TransferCounts(),
            verified_by=job.verified_by if job else None,
        )
        for study_uid, series, job in rows
    ]


_COUNTED_AS = {OutboundState.SENT: "sent", OutboundState.FAILED: "failed"}


def _transfers(session: Session, job_ids: list[int]) -> dict[int, TransferCounts]:
    counted: dict[int, dict[str, int]] = {}
    for job_id, state, n in session.execute(
            select(Outbound.job_id, Outbound.state, func.count())
            .where(Outbound.job_id.in_(job_ids)).group_by(Outbound.job_id, Outbound.state)):
        key = _COUNTED_AS.get(state, "pending")  # sending counts as pending
        by_state = counted.setdefault(job_id, {})
        by_state[key] = by_state.get(key, 0) + n
    return {job_id: TransferCounts(**by_state) for job_id, by_state in counted.items()}
