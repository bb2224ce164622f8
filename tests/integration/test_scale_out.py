"""Scale-out on PostgreSQL: one receiving node, several worker processes on one shared queue.

A throwaway cluster (initdb in a temp dir, its own port on 127.0.0.1) is the shared database;
the node (``serve`` with no workers) and two ``seganypet-node worker`` processes share the spool
through the same data dir, as N machines would over a shared file system.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seganypet_node.db.models import Instance, Job
from tests.postgres import PostgresCluster, postgres_bin
from tests.support import (
    NodeProcess,
    free_port,
    start_storescu,
    stop_process,
    storescu,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb) not installed")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture
def start(postgres: PostgresCluster, tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start ``serve`` or ``worker`` processes on one config (shared database and data dir);
    every one is killed by PID before the cluster stops."""
    port = free_port()
    config = write_config(tmp_path / "node.toml", tmp_path / "shared", port,
                          database={"url": postgres.url},
                          worker={"count": 0, "poll_interval_s": 0.3})
    started: list[NodeProcess] = []

    def start_process(name: str, worker: bool = False) -> NodeProcess:
        process = NodeProcess(
            config, tmp_path / "shared", port, tmp_path / f"{name}.log",
            command=("worker", "--workers", "1") if worker else ("serve",),
            ready_mark="polling the queue" if worker else "seganypet-node ready",
            database_url=postgres.url)
        started.append(process)
        return process.start()

    yield start_process
    for process in started:
        process.kill()


def jobs(node: NodeProcess) -> list[Job]:
    with node.session() as s:
        rows = list(s.scalars(select(Job).order_by(Job.id)))
        s.expunge_all()
    return rows


def all_done(node: NodeProcess, count: int) -> list[Job]:
    finished = node.wait_for_jobs({"done", "failed"}, count=count, timeout_s=240)
    assert all(j.state.value == "done" for j in finished), [j.last_error for j in finished]
    return finished


def test_two_worker_processes_drain_the_postgres_queue_without_double_work(
        start, make_phantom, tmp_path) -> None:
    node = start("node")
    studies = [make_phantom(41 + k, slices=300) for k in range(4)]
    for study in studies:
        assert storescu(node.port, study.dicom_dir).returncode == 0
    assert len(jobs(node)) == 4 and {j.state.value for j in jobs(node)} == {"pending"}

    workers = [start(f"worker{k}", worker=True) for k in (1, 2)]
    done = all_done(node, 4)
    assert all(j.attempts == 1 for j in done)
    # Each job was run by exactly one worker process: its log has the job, the other's not.
    ran = [{int(n) for n in re.findall(r"job (\d+): attempt 1 on", w.log())} for w in workers]
    assert ran[0] | ran[1] == {j.id for j in done}
    assert not ran[0] & ran[1]
    for worker, run_here in zip(workers, ran, strict=True):
        assert all(worker.log().count(f"job {n}: done") == 1 for n in run_here)
    for job in done:
        assert (tmp_path / "shared" / "results" / f"job-{job.id}" / "summary.json").exists()


def test_postgres_restart_mid_transfer_loses_nothing_acknowledged(
        postgres, start, make_phantom) -> None:
    node = start("node")
    start("worker1", worker=True)
    study = make_phantom(45, slices=300)
    sender = start_storescu(node.port, study.dicom_dir)
    try:
        time.sleep(0.4)
        postgres.restart()  # while instances are arriving
        sender.communicate(timeout=120)
    finally:
        stop_process(sender)
    refused = node.log().count("database unavailable") + node.log().count("database error")
    print("first send exit", sender.returncode, "refusals logged", refused)
    assert sender.returncode != 0 or refused, "the restart missed the transfer"
    # Whatever was refused during the restart is sent again, as a PACS would.
    assert storescu(node.port, study.dicom_dir).returncode == 0
    done = all_done(node, 1)
    assert done[0].attempts == 1
    with node.session() as s:
        assert s.scalar(select(func.count(Instance.id))) == 300
    # After the restart the node, the worker and the pool recovered without a restart of theirs.
    second = make_phantom(46, slices=300)
    assert storescu(node.port, second.dicom_dir).returncode == 0
    all_done(node, 2)
    assert node.alive()
