"""``serve``'s workers run as child processes: the receiving process never computes a job, a
worker the kernel kills fails only its own attempt (with the reason) and is started again, and
a node killed alone leaves no worker behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from seganypet_node.db.models import Job
from tests.support import echoscu, pid_running, storescu, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]

WORKER = {"count": 1, "poll_interval_s": 0.2, "lease_s": 600}


def job(node) -> Job:
    with node.session() as s:
        row = s.scalars(select(Job)).one()
        s.expunge_all()
    return row


def mid_job(start_node, make_phantom):
    """A node one second into segmenting the study it was just sent."""
    node = start_node(worker=WORKER)
    assert storescu(node.port, make_phantom(61, slices=300).dicom_dir).returncode == 0
    wait_for(lambda: "job 1: attempt 1" in node.log(), 60, "job started", node.log, 0.05)
    time.sleep(1.0)
    return node


def loads_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_a_job_runs_in_a_worker_process_and_the_receiving_process_never_loads_torch(
        start_node, make_phantom) -> None:
    node = mid_job(start_node, make_phantom)
    [worker] = node.worker_pids()
    assert job(node).lease_owner.split(":")[1] == str(worker)
    assert loads_torch(worker)
    assert not loads_torch(node.process.pid)
    done = node.wait_for_jobs({"done", "failed"}, timeout_s=120)[0]
    assert done.state.value == "done", done.last_error


def test_a_worker_killed_mid_job_fails_that_attempt_with_the_reason_and_is_started_again(
        start_node, make_phantom) -> None:
    node = mid_job(start_node, make_phantom)
    [worker] = node.worker_pids()
    os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer would
    wait_for(lambda: job(node).state.value != "running", 30, "attempt settled", node.log)
    failed = job(node)
    assert failed.state.value == "pending"
    assert "killed by SIGKILL" in failed.last_error and "out-of-memory" in failed.last_error
    assert echoscu(node.port) == 0  # the listener never went down
    wait_for(lambda: node.worker_pids() not in ([], [worker]), 30, "worker restarted",
             node.log)
    done = node.wait_for_jobs({"done", "failed"}, timeout_s=180)[0]
    assert done.state.value == "done", done.last_error
    assert done.attempts == 2
    assert node.log().count("job 1: done") == 1


def test_a_node_killed_alone_leaves_no_worker_behind_and_its_job_is_handed_back(
        start_node, make_phantom) -> None:
    node = mid_job(start_node, make_phantom)
    [worker] = node.kill_node_alone()
    wait_for(lambda: not pid_running(worker), 30, "worker gone", node.log)
    handed = job(node)
    assert handed.state.value == "pending", handed.last_error
    assert "handed back" in handed.last_error
    assert handed.attempts == 1 and handed.max_attempts == 4  # this attempt not spent
    assert "the node process is gone" in node.log()
