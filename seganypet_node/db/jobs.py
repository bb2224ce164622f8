"""The job queue: claim with a lease, finish, fail with retry, retry by hand.

A claimed job is RUNNING with a lease; a worker that dies leaves the lease to expire and the
job is claimed again. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so many worker
processes share the queue; on SQLite the immediate transaction serialises them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from seganypet_node.db.models import Instance, Job, Series, Study
from seganypet_node.db.states import JobState
from seganypet_node.errors import NodeError

DEFAULT_MAX_ATTEMPTS = 3
# The reason a job handed back by a stopping node records (worker thread or worker process).
HANDED_BACK = "interrupted: the node stopped; handed back to the queue (no attempt spent)"
UNFINISHED_NAME = re.compile(r"\.job-(\d+)-(?:attempt-(\d+)|replaced)")


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds, with what it needs to find the series."""

    job_id: int
    series_id: int
    series_uid: str
    study_uid: str
    attempt: int  # also the fencing token: a later claim of the job has a higher one
    lease_owner: str


def job_results_dir(results_root: Path, job_id: int) -> Path:
    """Where a job's masks and summary go (named by job id: no header value becomes a path)."""
    return results_root / f"job-{job_id}"


def attempt_results_dir(results_root: Path, job_id: int, attempt: int) -> Path:
    """Where one attempt writes before its results are moved into :func:`job_results_dir`."""
    return results_root / f".job-{job_id}-attempt-{attempt}"


def unfinished_results_dirs(results_root: Path) -> Iterator[tuple[Path, int, int | None]]:
    """Attempt folders (and earlier results moved aside) found in ``results_root``: the
    folder, its job id and its attempt (None for a moved-aside one)."""
    if not results_root.is_dir():
        return
    for path in sorted(results_root.iterdir()):
        found = UNFINISHED_NAME.fullmatch(path.name)
        if found and path.is_dir():
            yield path, int(found[1]), int(found[2]) if found[2] else None


class JobNotFoundError(NodeError, LookupError):
    """No job with that id (or not in a state that allows the operation)."""


def claim_next(
    session: Session, owner: str, lease: dt.timedelta, now: dt.datetime
) -> ClaimedJob | None:
    """Claim the oldest pending job, or a running one whose lease expired."""
    claimable = or_(
        Job.state == JobState.PENDING,
        (Job.state == JobState.RUNNING) & (Job.lease_expires_at < now),
    )
    job = session.scalars(
        select(Job).where(claimable).order_by(Job.id).limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if job is None:
        return None
    if job.attempts >= job.max_attempts:
        _mark_failed(job, f"gave up after {job.attempts} attempts (last lease expired)", now)
        return claim_next(session, owner, lease, now)
    job.state = JobState.RUNNING
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = now + lease
    job.started_at = now
    job.updated_at = now
    series_uid, study_uid = session.execute(
        select(Series.series_uid, Study.study_uid)
        .join(Study, Study.id == Series.study_id)
        .where(Series.id == job.series_id)
    ).one()
    return ClaimedJob(job.id, job.series_id, series_uid, study_uid, job.attempts, owner)


def renew_lease(
    session: Session, claimed: ClaimedJob, lease: dt.timedelta, now: dt.datetime
) -> bool:
    """Extend the lease; False when the job is no longer ours (it expired and was re-claimed,
    by another worker or by the same one: the attempt number tells the claims apart)."""
    result = session.execute(
        update(Job)
        .where(*_held_by(claimed))
        .values(lease_expires_at=now + lease, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish(session: Session, claimed: ClaimedJob, now: dt.datetime,
           note: str | None = None) -> bool:
    """Mark our running job done with its ``note`` (caveats); False when we had lost it."""
    result = session.execute(
        update(Job)
        .where(*_held_by(claimed))
        .values(state=JobState.DONE, finished_at=now, updated_at=now, last_error=None,
                note=note, lease_owner=None, lease_expires_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fail(session: Session, claimed: ClaimedJob, reason: str, now: dt.datetime,
         permanent: bool = False) -> JobState:
    """Record a failed attempt: back to PENDING while attempts remain, else FAILED.

    ``permanent`` failures (the series itself is unusable) are FAILED at once: another attempt
    would fail the same way.
    """
    job = session.get(Job, claimed.job_id, with_for_update=True)
    if (job is None or job.lease_owner != claimed.lease_owner
            or job.state is not JobState.RUNNING or job.attempts != claimed.attempt):
        raise JobNotFoundError(f"job {claimed.job_id} is not held by {claimed.lease_owner}")
    if permanent or job.attempts >= job.max_attempts:
        _mark_failed(job, reason, now)
    else:
        job.state = JobState.PENDING
        job.last_error = reason
        job.lease_owner = None
        job.lease_expires_at = None
        job.updated_at = now
    return job.state


def hand_back(session: Session, claimed: ClaimedJob, reason: str, now: dt.datetime) -> bool:
    """Return our running job to the queue at once without spending an attempt (the node is
    stopping); False when it was no longer ours (finished, failed or taken over).

    The attempt number is kept, so the interrupted claim stays fenced off, and the budget
    gets one attempt back instead.
    """
    result = session.execute(
        update(Job)
        .where(*_held_by(claimed))
        .values(state=JobState.PENDING, max_attempts=Job.max_attempts + 1, last_error=reason,
                lease_owner=None, lease_expires_at=None, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def held_by_owner(session: Session, owner: str) -> list[ClaimedJob]:
    """The running jobs whose lease ``owner`` holds (a worker that died holds them still)."""
    rows = session.execute(
        select(Job.id, Job.series_id, Series.series_uid, Study.study_uid, Job.attempts)
        .join(Series, Series.id == Job.series_id).join(Study, Study.id == Series.study_id)
        .where(Job.state == JobState.RUNNING, Job.lease_owner == owner)).all()
    return [ClaimedJob(job_id, series_id, series_uid, study_uid, attempts, owner)
            for job_id, series_id, series_uid, study_uid, attempts in rows]


def series_files(session: Session, series_id: int) -> list[str]:
    """Spool paths (relative to the spool directory) of a series' instances."""
    return list(session.scalars(
        select(Instance.spool_path).where(Instance.series_id == series_id)
        .order_by(Instance.instance_number, Instance.id)
    ))


def done_job_files(session: Session, job_id: int) -> list[str]:
    """Spool paths of the series a done job segmented (what a reviewer opens).

    Raises
    ------
    JobNotFoundError
        No such job, or it is not done.
    """
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFoundError(f"job {job_id} does not exist (`jobs` lists them)")
    if job.state is not JobState.DONE:
        raise JobNotFoundError(f"job {job_id} is {job.state.value}: only done results can be "
                               f"reviewed")
    return series_files(session, job.series_id)


def retry(session: Session, job_id: int, now: dt.datetime) -> None:
    """Put a FAILED job back in the queue with a fresh attempt budget.

    Raises
    ------
    JobNotFoundError
        No such job, or it is not failed (the message says what to do instead).
    """
    _requeue(session, job_id, JobState.FAILED, now)


def rerun(session: Session, job_id: int, now: dt.datetime) -> None:
    """Queue a DONE job again (after a model or atlas update); its results are replaced when
    the new run is recorded.

    Raises
    ------
    JobNotFoundError
        No such job, or it is not done.
    """
    _requeue(session, job_id, JobState.DONE, now)


_INSTEAD = {JobState.DONE: "it is done: `jobs --rerun {id}` runs it again",
            JobState.FAILED: "it failed: `jobs --retry {id}` queues it again",
            JobState.PENDING: "it is pending: a worker will run it",
            JobState.RUNNING: "it is running now"}


def verify(session: Session, job_id: int, user_name: str, now: dt.datetime) -> None:
    """Record that ``user_name`` verified a done job's results.

    Raises
    ------
    JobNotFoundError
        No such job, it is not done, or it was verified already (by whom, when).
    """
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise JobNotFoundError(f"job {job_id} does not exist (`jobs` lists them)")
    if job.state is not JobState.DONE:
        raise JobNotFoundError(f"job {job_id} is {job.state.value}: only done results can be "
                               f"verified")
    if job.verified_by is not None and job.verified_at is not None:
        raise JobNotFoundError(f"job {job_id} was verified already by {job.verified_by} at "
                               f"{job.verified_at:%Y-%m-%d %H:%M} UTC")
    job.verified_by = user_name
    job.verified_at = now
    job.updated_at = now


def _requeue(session: Session, job_id: int, expected: JobState, now: dt.datetime) -> None:
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise JobNotFoundError(f"job {job_id} does not exist (`jobs` lists them)")
    if job.state is not expected:
        raise JobNotFoundError(f"job {job_id} is not {expected.value}: "
                               + _INSTEAD[job.state].format(id=job_id))
    job.state = JobState.PENDING
    job.max_attempts = job.attempts + DEFAULT_MAX_ATTEMPTS
    job.updated_at = now
    job.finished_at = None
    job.verified_by = None  # new results need their own verification
    job.verified_at = None


def _held_by(claimed: ClaimedJob) -> tuple[ColumnElement[bool], ...]:
    """The job is still ``claimed``'s: running, same owner, same claim (fencing token)."""
    return (Job.id == claimed.job_id, Job.lease_owner == claimed.lease_owner,
            Job.state == JobState.RUNNING, Job.attempts == claimed.attempt)


def _mark_failed(job: Job, reason: str, now: dt.datetime) -> None:
    job.state = JobState.FAILED
    job.last_error = reason
    job.lease_owner = None
    job.lease_expires_at = None
    job.finished_at = now
    job.updated_at = now
