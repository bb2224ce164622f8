"""Scale-out on PostgreSQL: one receiving node, several worker processes on one shared queue.

A throwaway cluster (initdb in a temp dir, its own port on 127.0.0.1) is the shared database;
the node (``serve`` with no workers) and two ``seganypet-node worker`` processes share the spool
through the same data dir, as N machines would over a shared file system.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seganypet_node.db.models import Instance, Job
from tests.postgres import PostgresCluster, postgres_bin
from tests.support import NodeProcess, find_dcmtk, free_port, storescu, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb) not installed")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture
def cluster_config(postgres: PostgresCluster, tmp_path: Path) -> Path:
    return write_config(tmp_path / "node.toml", tmp_path / "shared", free_port(),
                        database={"url": postgres.url},
                        worker={"count": 0, "poll_interval_s": 0.3})


@pytest.fixture
def processes(tmp_path: Path, postgres: PostgresCluster) -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for process in started:
        process.kill()


def start(processes: list[NodeProcess], config: Path, tmp_path: Path, postgres: PostgresCluster,
          name: str, worker: bool = False) -> NodeProcess:
    port = int(re.search(r"port = (\d+)", config.read_text()).group(1))  # type: ignore[union-attr]
    process = NodeProcess(
        config, tmp_path / "shared", port, tmp_path / f"{name}.log",
        command=("worker", "--workers", "1") if worker else ("serve",),
        ready_mark="polling the queue" if worker else "seganypet-node ready",
        database_url=postgres.url)
    processes.append(process)
    return process.start()


def jobs(node: NodeProcess) -> list[Job]:
    with node.session() as s:
        rows = list(s.scalars(select(Job).order_by(Job.id)))
        s.expunge_all()
    return rows


def wait_jobs_done(node: NodeProcess, count: int, timeout_s: float = 240) -> list[Job]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = jobs(node)
        if len(rows) == count and all(j.state.value == "done" for j in rows):
            return rows
        failed = [j.last_error for j in rows if j.state.value == "failed"]
        assert not failed, failed
        time.sleep(0.5)
    raise AssertionError(f"jobs not done: {[(j.id, j.state.value) for j in jobs(node)]}")


def test_two_worker_processes_drain_the_postgres_queue_without_double_work(
        postgres, cluster_config, processes, make_phantom, tmp_path) -> None:
    node = start(processes, cluster_config, tmp_path, postgres, "node")
    studies = [make_phantom(41 + k, slices=300) for k in range(4)]
    for study in studies:
        assert storescu(node.port, study.dicom_dir).returncode == 0
    assert len(jobs(node)) == 4 and {j.state.value for j in jobs(node)} == {"pending"}

    workers = [start(processes, cluster_config, tmp_path, postgres, f"worker{k}", worker=True)
               for k in (1, 2)]
    done = wait_jobs_done(node, 4)
    assert all(j.attempts == 1 for j in done)
    # Each job was run by exactly one worker process: its log has the job, the other's not.
    ran = [{int(n) for n in re.findall(r"job (\d+): attempt 1 on", w.log())} for w in workers]
    assert ran[0] | ran[1] == {j.id for j in done}
    assert not ran[0] & ran[1]
    assert all(w.log().count(f"job {j.id}: done") == 1 for j in done
               for w in workers if j.id in ran[workers.index(w)])
    for job in done:
        assert (tmp_path / "shared" / "results" / f"job-{job.id}" / "summary.json").exists()


def test_postgres_restart_mid_transfer_loses_nothing_acknowledged(
        postgres, cluster_config, processes, make_phantom, tmp_path) -> None:
    node = start(processes, cluster_config, tmp_path, postgres, "node")
    start(processes, cluster_config, tmp_path, postgres, "worker1", worker=True)
    study = make_phantom(45, slices=300)
    tool = find_dcmtk("storescu")
    assert tool
    sender = subprocess.Popen(
        [tool, "-aec", "SEGANYPET", "+sd", "127.0.0.1", str(node.port), str(study.dicom_dir)],
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    time.sleep(0.4)
    postgres.restart()  # while instances are arriving
    sender.wait(timeout=120)
    refused = node.log().count("database unavailable") + node.log().count("database error")
    print("first send exit", sender.returncode, "refusals logged", refused)
    assert sender.returncode != 0 or refused, "the restart missed the transfer"
    # Whatever was refused during the restart is sent again, as a PACS would.
    assert storescu(node.port, study.dicom_dir).returncode == 0
    done = wait_jobs_done(node, 1)
    assert done[0].attempts == 1
    with node.session() as s:
        assert s.scalar(select(func.count(Instance.id))) == 300
    # After the restart the node, the worker and the pool recovered without a restart of theirs.
    second = make_phantom(46, slices=300)
    assert storescu(node.port, second.dicom_dir).returncode == 0
    wait_jobs_done(node, 2)
    assert node.alive()
