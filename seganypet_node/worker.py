"""Segmentation workers: claim a job, run the pipeline on its series, record the outcome.

Threads inside ``serve`` (``[worker] count``) and ``seganypet-node worker`` processes run the
same loop. A job's lease is renewed by a heartbeat thread (:mod:`db.heartbeat`) whatever the
pipeline is doing; a worker that dies leaves it to expire and another worker runs the job
again. Results are written into a folder of the attempt's own and moved to
``<data_dir>/results/job-<id>/`` in the transaction that records the job done, after the
fencing check: a worker whose lease was taken over never writes there or queues transfers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.config import Config
from seganypet_node.db.engine import utcnow
from seganypet_node.db.heartbeat import LeaseHeartbeat, LeaseLostError
from seganypet_node.db.jobs import (
    HANDED_BACK,
    ClaimedJob,
    JobNotFoundError,
    attempt_results_dir,
    claim_next,
    fail,
    finish,
    hand_back,
    job_results_dir,
    series_files,
    unfinished_results_dirs,
)
from seganypet_node.db.states import JobState
from seganypet_node.dicom.scu import queue_results
from seganypet_node.dicom.spool import Spool
from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import read_pet_series
from seganypet_node.imaging.volume import from_pet_series
from seganypet_node.measure.reference import ReferenceKind
from seganypet_node.outputs.folder import FolderResult, write_folder
from seganypet_node.outputs.kinds import ResultObject
from seganypet_node.outputs.publish import discard, publish, unpublish
from seganypet_node.outputs.summary import caveats
from seganypet_node.pipeline import OrganPipeline, RunSource, pipeline_from_config
from seganypet_node.pipeline.memory import check_budget, study_voxels
from seganypet_node.pipeline.run_log import StageLog, log_outcome
from seganypet_node.pipeline.timings import Stage, Timings
from seganypet_node.polling import QueuePoller, lower_thread_priority

log = logging.getLogger(__name__)

class JobInterrupted(Exception):
    """Raised inside a job's run when the worker is stopping (its job was handed back)."""


class JobWorker(QueuePoller):
    """One worker thread.

    Parameters
    ----------
    config : Config
        Validated configuration (model, atlas, organs, lease, poll interval, data dir).
    sessions : sqlalchemy.orm.sessionmaker
        Session factory of the node's database.
    name : str
        Distinguishes threads of one process in lease owners and logs.
    on_results_queued : callable, optional
        Called after a finished job's transfers were committed (wakes the sender).
    """

    def __init__(self, config: Config, sessions: sessionmaker[Session], name: str = "w1",
                 on_results_queued: Callable[[], None] = lambda: None) -> None:
        super().__init__("worker", name, config.worker.poll_interval_s)
        self._on_results_queued = on_results_queued
        self.config = config
        self.sessions = sessions
        self.spool = Spool(config.spool_dir)
        self._pipeline: OrganPipeline | None = None
        self._in_hand: ClaimedJob | None = None

    def step(self) -> bool:
        return self.run_once() is not None

    def on_thread_start(self) -> None:
        lower_thread_priority(self.config.worker.nice)

    def on_stop_requested(self) -> None:
        """Hand the job in hand back to the queue at once: a run that goes on is fenced off
        and writes nothing, and the process need not wait for it."""
        claimed = self._in_hand
        if claimed is not None and self._hand_back(claimed):
            log.info("job %d: handed back to the queue (the node is stopping; attempt %d "
                     "not counted)", claimed.job_id, claimed.attempt)

    def _hand_back(self, claimed: ClaimedJob) -> bool:
        try:
            with self.sessions.begin() as session:
                return hand_back(session, claimed, HANDED_BACK, utcnow())
        except Exception:  # the database is gone: the lease expires instead
            log.exception("job %d: could not be handed back", claimed.job_id)
            return False

    def run_once(self) -> JobState | None:
        """Claim and run one job; returns its new state, or None when the queue was empty."""
        if self.stopping:
            return None
        lease = _lease(self.config)
        with self.sessions.begin() as session:
            claimed = claim_next(session, self.owner, lease, utcnow())
        if claimed is None:
            return None
        self._in_hand = claimed
        try:
            if self.stopping:  # stop() came between the claim and the line above
                self._hand_back(claimed)
                return JobState.PENDING
            return self._run_claimed(claimed, lease)
        finally:
            self._in_hand = None

    def _run_claimed(self, claimed: ClaimedJob, lease: dt.timedelta) -> JobState:
        log.info("job %d: attempt %d on series %d", claimed.job_id, claimed.attempt,
                 claimed.series_id)
        start = time.perf_counter()
        root = self.config.results_dir
        staging = attempt_results_dir(root, claimed.job_id, claimed.attempt)
        for earlier, job_id, attempt in unfinished_results_dirs(root):
            if job_id == claimed.job_id and attempt is not None:
                discard(earlier)  # left by an attempt that died or lost its lease
        try:
            with LeaseHeartbeat(self.sessions, claimed, lease, _ceiling(self.config)) as heartbeat:
                written = self._process(claimed, staging, heartbeat)
        except JobInterrupted:
            discard(staging)
            self._hand_back(claimed)  # no-op when stop() already did
            return JobState.PENDING
        except LeaseLostError:
            if self.stopping:  # handed back by stop(): not another worker's doing
                discard(staging)
                return JobState.PENDING
            log.warning("job %d: lease lost to another worker; result not recorded",
                        claimed.job_id)
            discard(staging)
            return JobState.RUNNING
        except NodeError as exc:
            discard(staging)
            return self._record_failure(claimed, str(exc), permanent=exc.permanent)
        except Exception as exc:
            log.exception("job %d: unexpected error", claimed.job_id)
            discard(staging)
            return self._record_failure(claimed, f"internal error: {type(exc).__name__}: {exc}")
        try:
            queued = self._record_done(claimed, written, staging)
        except Exception as exc:  # the move or the commit failed; the job is still ours
            log.exception("job %d: results could not be recorded", claimed.job_id)
            discard(staging)
            return self._record_failure(
                claimed, f"results not recorded: {type(exc).__name__}: {exc}")
        if queued is None:
            return JobState.RUNNING
        if queued:
            self._on_results_queued()
        log.info("job %d: done in %.1f s; %d transfer(s) queued", claimed.job_id,
                 time.perf_counter() - start, queued)
        return JobState.DONE

    def _record_done(self, claimed: ClaimedJob, written: FolderResult,
                     staging: Path) -> int | None:
        """Mark the job done, queue its transfers and move its results in, in one transaction;
        the number of transfers, or None when the job was no longer ours."""
        final = job_results_dir(self.config.results_dir, claimed.job_id)
        replaced: list[Path | None] = []  # set once the results are in place
        try:
            with self.sessions.begin() as session:
                if not finish(session, claimed, utcnow(), caveats(written.result)):
                    log.warning("job %d: %s before the result was recorded", claimed.job_id,
                                self._why_not_held())
                    discard(staging)
                    return None
                queued = self._enqueue(session, claimed, written.objects, staging, final)
                replaced.append(publish(staging, final))  # last: nothing may fail after it
        except Exception:
            if replaced:
                unpublish(staging, final, replaced[0])
            raise
        if replaced[0] is not None:
            discard(replaced[0])
        return queued

    def _enqueue(self, session: Session, claimed: ClaimedJob,
                 objects: tuple[ResultObject, ...], written_in: Path, moved_to: Path) -> int:
        if self.config.review.require_verification:
            log.info("job %d: results held until a physician verifies them", claimed.job_id)
            return 0
        moved = [dataclasses.replace(o, path=moved_to / o.path.relative_to(written_in))
                 for o in objects]
        return queue_results(session, self.config, claimed.job_id, moved)

    def _most_segments(self) -> int:
        """The most segments a SEG can hold: every organ, every reference, the lesion cap."""
        lesions = self.config.lesions
        return (len(self.config.pipeline.organs) + len(ReferenceKind)
                + (lesions.max_count if lesions.enabled else 0))

    def _process(self, claimed: ClaimedJob, out: Path,
                 heartbeat: LeaseHeartbeat) -> FolderResult:
        with self.sessions.begin() as session:
            files = [self.spool.absolute(p) for p in series_files(session, claimed.series_id)]
        budget = self.config.worker.memory_budget_mb
        if budget:
            check_budget(study_voxels(files), budget, self._most_segments())
        timings = Timings()
        with timings.timed(Stage.READ_SERIES):
            volume = from_pet_series(read_pet_series(files))
        with timings.timed(Stage.LOAD):
            pipeline = self._ensure_pipeline()

        progress = StageLog(log, f"job {claimed.job_id}")

        def stop_when_lost(stage: str, done: int, total: int) -> None:
            if self.stopping:
                raise JobInterrupted(stage)
            heartbeat.check(stage)  # no use finishing a job another worker now holds
            progress(stage, done, total)

        source = RunSource(job=claimed.job_id, series_instance_uid=claimed.series_uid,
                           study_instance_uid=claimed.study_uid, instances=len(files))
        result = pipeline.run(volume, stop_when_lost, timings)
        heartbeat.check("results")
        written = write_folder(result, volume, out, source, self.config.node.ae_title,
                               self.config.outputs.research_label)
        log_outcome(log, f"job {claimed.job_id}", written.result)
        found = sum(o.found for o in written.result.organs)
        log.info("job %d: %d of %d organs found", claimed.job_id, found,
                 len(written.result.organs))
        return written

    def _ensure_pipeline(self) -> OrganPipeline:
        if self._pipeline is None:
            self._pipeline = pipeline_from_config(self.config)
        return self._pipeline

    def _why_not_held(self) -> str:
        """Why a job this worker ran is no longer its own."""
        return ("handed back (the node is stopping)" if self.stopping
                else "lease lost to another worker")

    def _record_failure(self, claimed: ClaimedJob, reason: str,
                        permanent: bool = False) -> JobState:
        try:
            with self.sessions.begin() as session:
                state = fail(session, claimed, reason, utcnow(), permanent)
        except JobNotFoundError:
            log.warning("job %d: %s before the failure was recorded (%s)",
                        claimed.job_id, self._why_not_held(), reason)
            return JobState.RUNNING
        log.warning("job %d: attempt %d failed (%s): %s", claimed.job_id, claimed.attempt,
                    state.value, reason)
        return state


def job_workers(config: Config, sessions: sessionmaker[Session],
                on_results_queued: Callable[[], None] = lambda: None) -> list[JobWorker]:
    """The ``[worker] count`` workers of this process, named w1, w2, ..."""
    return [JobWorker(config, sessions, f"w{k}", on_results_queued)
            for k in range(1, config.worker.count + 1)]


def _lease(config: Config) -> dt.timedelta:
    return dt.timedelta(seconds=config.worker.lease_s)


def _ceiling(config: Config) -> dt.timedelta:
    """How long a job's lease is kept alive at most: twice the inference bound plus a lease.
    A worker hung past it loses the job to the lease's expiry, as a dead one does."""
    return dt.timedelta(seconds=2 * config.pipeline.max_inference_s + config.worker.lease_s)
