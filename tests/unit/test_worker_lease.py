"""Leases that cannot expire mid-job: the heartbeat, and the fencing of a worker that lost its job.

Two real workers share one database and a real spool; the network is replaced by a pipeline
that answers with the phantom's ground truth after a pause longer than the lease, without
reporting progress (as one organ at 2 mm on a CPU can).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import threading
import time

import pytest
from sqlalchemy import select, update

from seganypet_node.config import load_config
from seganypet_node.db import jobs
from seganypet_node.db.engine import utcnow
from seganypet_node.db.ingest import record_instance
from seganypet_node.db.models import Job, Outbound
from seganypet_node.db.states import JobState
from seganypet_node.settings_values import RemoteAE
from seganypet_node.worker import JobWorker
from tests.unit.test_dicom_outputs import MODEL, truth_result
from tests.unit.test_ingest import T0, pet_header

LEASE_S = 1.0


@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(43, matrix=64, slices=120, lesions=1)


@pytest.fixture
def node(tmp_path, sessions, study):
    """A configuration with a one-second lease, one result destination, and the study's
    slices in the spool and the database as one complete series."""
    config = load_config(None, environ={}).with_overrides("node", data_dir=str(tmp_path))
    config = dataclasses.replace(
        config, worker=dataclasses.replace(config.worker, lease_s=LEASE_S, poll_interval_s=0.05),
        send=dataclasses.replace(config.send, destinations=(RemoteAE("ARCHIVE", "127.0.0.1",
                                                                     11112),)))
    files = sorted(study.dicom_dir.glob("*.dcm"))
    (config.spool_dir / "s").mkdir(parents=True)
    with sessions.begin() as session:
        for n, path in enumerate(files, 1):
            shutil.copy(path, config.spool_dir / "s" / f"{n}.dcm")
            result = record_instance(
                session.connection(), pet_header(n, slices=len(files)),
                spool_path=f"s/{n}.dcm", size_bytes=path.stat().st_size,
                transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae="SCU",
                skip_reason=None, now=T0)
    return config, result.job_id


class SlowTruth:
    """The pipeline, answering with the ground truth after ``pause_s`` of silence."""

    def __init__(self, study, pause_s: float, during=lambda: None) -> None:
        self.study, self.pause_s, self.during = study, pause_s, during
        self.runs = 0

    def run(self, volume, progress=None, timings=None):
        self.runs += 1
        self.during()
        time.sleep(self.pause_s)
        return dataclasses.replace(truth_result(self.study, volume), model=MODEL)


def worker(config, sessions, name: str, pipeline: SlowTruth) -> JobWorker:
    made = JobWorker(config, sessions, name)
    made._pipeline = pipeline  # type: ignore[assignment]
    return made


def outbound_rows(sessions) -> list[Outbound]:
    with sessions() as session:
        return list(session.scalars(select(Outbound)))


def test_a_job_slower_than_its_lease_runs_exactly_once(node, sessions, study) -> None:
    config, job_id = node
    pipeline = SlowTruth(study, pause_s=4 * LEASE_S)
    first, second = (worker(config, sessions, name, pipeline) for name in ("w1", "w2"))
    outcome: list[JobState | None] = []
    running = threading.Thread(target=lambda: outcome.append(first.run_once()))
    running.start()
    deadline = time.monotonic() + 8 * LEASE_S
    while running.is_alive() and time.monotonic() < deadline:
        assert second.run_once() is None  # the lease never lapses while the job runs
        time.sleep(0.1)
    running.join()
    assert outcome == [JobState.DONE] and pipeline.runs == 1
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert job.state is JobState.DONE and job.attempts == 1
    results = config.results_dir / f"job-{job_id}"
    assert (results / "summary.json").is_file()
    sent = outbound_rows(sessions)
    assert len(sent) == 3 and all((config.node.data_dir / r.spool_path).is_file() for r in sent)
    assert [p.name for p in config.results_dir.iterdir()] == [results.name]


def test_a_worker_whose_job_was_taken_over_writes_and_queues_nothing(node, sessions,
                                                                     study) -> None:
    config, job_id = node

    def taken_over() -> None:  # the lease lapses (say, the process was stopped) and w2 claims
        with sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(
                lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
        with sessions.begin() as session:
            assert jobs.claim_next(session, "w2", dt.timedelta(hours=1), utcnow()) is not None

    stale = worker(config, sessions, "w1", SlowTruth(study, 2 * LEASE_S, during=taken_over))
    assert stale.run_once() is JobState.RUNNING
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.state, job.lease_owner, job.attempts) == (JobState.RUNNING, "w2", 2)
    assert outbound_rows(sessions) == []
    assert not config.results_dir.exists() or list(config.results_dir.iterdir()) == []


def test_the_same_worker_reclaiming_its_job_holds_a_new_fencing_token(sessions) -> None:
    for n in (1, 2, 3):
        with sessions.begin() as session:
            job_id = record_instance(
                session.connection(), pet_header(n), spool_path=f"x/{n}.dcm", size_bytes=1,
                transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae="SCU", skip_reason=None,
                now=T0).job_id
    lease = dt.timedelta(seconds=LEASE_S)
    with sessions.begin() as session:
        first = jobs.claim_next(session, "w1", lease, T0)
    with sessions.begin() as session:
        again = jobs.claim_next(session, "w1", lease, T0 + 2 * lease)
    assert first is not None and again is not None and again.job_id == first.job_id == job_id
    with sessions.begin() as session:
        assert not jobs.renew_lease(session, first, lease, T0 + 2 * lease)
        assert not jobs.finish(session, first, T0 + 2 * lease)
    with sessions.begin() as session:
        assert jobs.finish(session, again, T0 + 2 * lease)


def test_a_study_over_the_memory_budget_fails_at_once_with_its_figures(node, sessions,
                                                                       study) -> None:
    config, job_id = node
    tight = dataclasses.replace(config, worker=dataclasses.replace(config.worker,
                                                                    memory_budget_mb=500))
    pipeline = SlowTruth(study, pause_s=0)
    assert worker(tight, sessions, "w1", pipeline).run_once() is JobState.FAILED
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert job.attempts == 1 and "memory_budget_mb = 500" in job.last_error
        assert "needs about" in job.last_error
    assert pipeline.runs == 0
    with sessions.begin() as session:
        jobs.retry(session, job_id, utcnow())
    roomy = dataclasses.replace(config, worker=dataclasses.replace(config.worker,
                                                                    memory_budget_mb=4000))
    assert worker(roomy, sessions, "w1", pipeline).run_once() is JobState.DONE


def test_a_worker_hung_past_the_ceiling_stops_renewing_and_loses_the_job(sessions) -> None:
    from seganypet_node.db.heartbeat import LeaseHeartbeat

    for n in (1, 2, 3):
        with sessions.begin() as session:
            record_instance(session.connection(), pet_header(n), spool_path=f"x/{n}.dcm",
                            size_bytes=1, transfer_syntax_uid="1.2.840.10008.1.2.1",
                            calling_ae="SCU", skip_reason=None, now=T0)
    lease = dt.timedelta(seconds=0.3)
    with sessions.begin() as session:
        claimed = jobs.claim_next(session, "w1", lease, utcnow())
    with LeaseHeartbeat(sessions, claimed, lease, ceiling=dt.timedelta(seconds=0.5)):
        time.sleep(0.45)
        with sessions() as session:  # renewed so far
            assert session.get_one(Job, claimed.job_id).lease_expires_at > utcnow()
        time.sleep(1.0)
        with sessions.begin() as session:  # the ceiling passed: the lease ran out
            taken = jobs.claim_next(session, "w2", lease, utcnow())
    assert taken is not None and taken.attempt == 2


def test_results_that_cannot_be_moved_in_leave_the_job_retryable(node, sessions, study,
                                                                 monkeypatch) -> None:
    import seganypet_node.worker as worker_module

    config, job_id = node

    def full_disk(staging, final):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(worker_module, "publish", full_disk)
    assert worker(config, sessions, "w1", SlowTruth(study, 0)).run_once() is JobState.PENDING
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert "results not recorded" in job.last_error and "No space" in job.last_error
    assert outbound_rows(sessions) == []  # the transfers went with the rolled-back finish
    assert list(config.results_dir.iterdir()) == []


def test_worker_threads_run_at_the_configured_lower_priority(sessions, tmp_path) -> None:
    config = load_config(None, environ={}).with_overrides("node", data_dir=str(tmp_path))
    config = config.with_overrides("worker", nice=3)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    made = JobWorker(config, sessions, "w1")
    made.start()
    try:
        deadline = time.monotonic() + 5
        thread = made._thread.native_id
        while os.getpriority(os.PRIO_PROCESS, thread) != min(19, base + 3):
            assert time.monotonic() < deadline, "the worker thread kept its priority"
            time.sleep(0.01)
    finally:
        made.stop()
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the rest of the process is untouched


class Ticking(SlowTruth):
    """A pipeline that reports progress every 50 ms for ``pause_s`` (stops when told)."""

    def run(self, volume, progress=None, timings=None):
        self.runs += 1
        deadline = time.monotonic() + self.pause_s
        while time.monotonic() < deadline:
            progress("segmenting liver", 1, 10)
            time.sleep(0.05)
        return dataclasses.replace(truth_result(self.study, volume), model=MODEL)


def _wait_running(sessions, job_id: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with sessions() as session:
            if session.get_one(Job, job_id).state is JobState.RUNNING:
                return
        assert time.monotonic() < deadline, "the worker never claimed the job"
        time.sleep(0.02)


@pytest.mark.parametrize("pipeline_kind", [Ticking, SlowTruth], ids=["reports", "silent"])
def test_stopping_hands_the_job_back_at_once_without_spending_an_attempt(
        node, sessions, study, pipeline_kind) -> None:
    config, job_id = node
    config = dataclasses.replace(config, worker=dataclasses.replace(config.worker, lease_s=600))
    pipeline = pipeline_kind(study, pause_s=6.0)
    first = worker(config, sessions, "w1", pipeline)
    first.start()
    _wait_running(sessions, job_id)
    started = time.monotonic()
    first.stop()
    assert time.monotonic() - started < 3.5  # the stop never waits for the study
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.state, job.lease_owner, job.attempts, job.max_attempts) == (
            JobState.PENDING, None, 1, 4)
        assert "handed back" in job.last_error
    first._thread.join(10)  # a silent run ends on its own, fenced off
    assert outbound_rows(sessions) == [] and not (config.results_dir / f"job-{job_id}").exists()

    again = worker(config, sessions, "w2", SlowTruth(study, 0))
    assert again.run_once() is JobState.DONE
    with sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.attempts, job.max_attempts) == (2, 4)
    assert len(outbound_rows(sessions)) == 3
