"""SIGKILL of the node while it segments and while it sends; the destination down for longer
than the retry window. Real processes (the node, dcmtk storescp) in a private network
namespace; every one stopped by PID."""

from __future__ import annotations

import re
import time
from collections import Counter

import pydicom
import pytest
from sqlalchemy import select

from seganypet_node.db.models import Job
from tests.peers import StorescpPeer
from tests.support import cli, outbound_rows, storescu, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


def archive_config(archive: StorescpPeer, **send: object) -> dict[str, object]:
    return {"to_caller": False, "poll_interval_s": 0.2,
            "destinations": [{"ae_title": archive.ae_title, "host": "127.0.0.1",
                              "port": archive.port}], **send}


def job(node) -> Job:
    with node.session() as s:
        row = s.scalars(select(Job)).one()
        s.expunge_all()
    return row


def arrived(archive: StorescpPeer) -> Counter[str]:
    return Counter(str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                   for p in archive.received())


def consistent(node) -> bool:
    return cli("--config", str(node.config_path), "check").stdout.strip().endswith("consistent")


def _node_mid_job(netns, start_node, make_phantom, archive, seed: int, lease_s: float):
    """A node with one worker, 1.5 s into segmenting a 300-slice study it was just sent."""
    node = start_node(prefix=netns.enter(), send=archive_config(archive),
                      worker={"count": 1, "poll_interval_s": 0.2, "lease_s": lease_s})
    study = make_phantom(seed, slices=300)
    assert storescu(node.port, study.dicom_dir, prefix=netns.enter()).returncode == 0
    wait_for(lambda: "job 1: attempt 1" in node.log(), 60, "job started", node.log, 0.05)
    time.sleep(1.5)
    return node


def test_kill_during_segmentation_reruns_the_job_once(
        netns, start_node, make_phantom, tmp_path) -> None:
    archive = StorescpPeer(tmp_path / "archive", netns.enter()).start()
    try:
        node = _node_mid_job(netns, start_node, make_phantom, archive, seed=51, lease_s=10)
        node.kill()
        interrupted = job(node)
        assert interrupted.state.value == "running", "the kill did not land mid-job"
        assert archive.received() == []

        node.start()  # the job's lease expires, the worker takes it again
        wait_for(lambda: job(node).state.value == "done", 120, "job re-run", node.log)
        assert job(node).attempts == 2
        wait_for(lambda: len(archive.received()) == 3, 60, "results sent", node.log)
        time.sleep(1)
        assert all(n == 1 for n in arrived(archive).values()) and len(arrived(archive)) == 3
        assert node.log().count("job 1: done") == 1
        assert consistent(node)
    finally:
        archive.stop()


def test_sigterm_during_segmentation_hands_the_job_back_and_a_restart_runs_it_at_once(
        netns, start_node, make_phantom, tmp_path) -> None:
    archive = StorescpPeer(tmp_path / "archive", netns.enter()).start()
    try:
        # A lease far longer than the test: only the hand-back can free the job this quickly.
        node = _node_mid_job(netns, start_node, make_phantom, archive, seed=52, lease_s=600)
        started = time.monotonic()
        assert node.terminate() == 0
        stopped_in = time.monotonic() - started
        assert stopped_in < 10, f"SIGTERM took {stopped_in:.1f} s"
        handed_back = job(node)
        assert handed_back.state.value == "pending", node.log()
        assert (handed_back.lease_owner, handed_back.max_attempts) == (None, 4)
        assert "handed back" in (handed_back.last_error or "")
        assert "job 1: handed back to the queue" in node.log()
        assert archive.received() == []

        node.start()
        wait_for(lambda: job(node).state.value == "done", 120, "job re-run", node.log)
        assert job(node).attempts == 2 and job(node).max_attempts == 4
        wait_for(lambda: len(archive.received()) == 3, 60, "results sent", node.log)
        assert consistent(node)
        # The operator's log: in the data directory too, a line per organ with its time,
        # and none of highdicom's per-module chatter (issue 25).
        operator_log = (node.data_dir / "logs" / "node.log").read_text()
        assert "job 1: handed back to the queue" in operator_log
        organ_lines = re.findall(r"job 1: \w+: (?:found|not found).*", operator_log)
        assert sum("(inference " in line for line in organ_lines) >= 5, organ_lines
        assert "copy attributes of module" not in node.log()
    finally:
        archive.stop()


def test_kill_during_sending_resends_only_what_was_not_confirmed(
        netns, start_node, make_phantom, tmp_path) -> None:
    # A slow archive (3 s after each C-STORE) keeps the node mid-transfer when it is killed.
    archive = StorescpPeer(tmp_path / "archive", netns.enter(),
                           extra=("--sleep-after", "3")).start()
    try:
        node = start_node(prefix=netns.enter(), send=archive_config(archive, lease_s=2),
                          worker={"count": 1, "poll_interval_s": 0.2})
        study = make_phantom(52, slices=300)
        assert storescu(node.port, study.dicom_dir, prefix=netns.enter()).returncode == 0
        wait_for(lambda: any(r.state.value == "sent" for r in outbound_rows(node)), 120,
                 "first object confirmed", node.log, 0.05)
        time.sleep(0.5)  # the second object in flight
        node.kill()
        before = {r.sop_instance_uid: r.state.value for r in outbound_rows(node)}
        confirmed = {uid for uid, state in before.items() if state == "sent"}
        assert confirmed and len(confirmed) < 3, f"the kill did not land mid-send: {before}"

        archive.stop()
        archive.extra = ()
        archive.start()
        node.start()
        wait_for(lambda: all(r.state.value == "sent" for r in outbound_rows(node)), 60,
                 "every transfer sent after the restart", node.log)
        counts = arrived(archive)
        assert set(counts) == set(before)  # everything arrived
        assert all(counts[uid] == 1 for uid in confirmed)  # confirmed ones never again
        assert consistent(node)
    finally:
        archive.stop()


def test_destination_down_past_the_retry_window_then_send_retry(
        netns, start_node, make_phantom, tmp_path) -> None:
    archive = StorescpPeer(tmp_path / "archive", netns.enter())  # not started: down
    try:
        node = start_node(prefix=netns.enter(), worker={"count": 1, "poll_interval_s": 0.2},
                          send=archive_config(archive, max_attempts=2, retry_initial_s=0.5,
                                              retry_max_s=1))
        study = make_phantom(53, slices=300)
        assert storescu(node.port, study.dicom_dir, prefix=netns.enter()).returncode == 0
        wait_for(lambda: len(outbound_rows(node)) == 3
                 and all(r.state.value == "failed" for r in outbound_rows(node)), 120,
                 "transfers failed after their attempts", node.log)
        assert all(r.attempts == 2 and "no association" in (r.last_error or "")
                   for r in outbound_rows(node))
        listed = cli("--config", str(node.config_path), "send")
        assert listed.stdout.count("failed") >= 3

        archive.start()
        retried = cli("--config", str(node.config_path), "send", "--retry")
        assert "3 failed transfer(s) queued again" in retried.stdout, retried.stderr
        wait_for(lambda: len(archive.received()) == 3, 60, "delivered after --retry", node.log)
        wait_for(lambda: all(r.state.value == "sent" for r in outbound_rows(node)), 30,
                 "recorded as sent", node.log)
        assert set(arrived(archive)) == {r.sop_instance_uid for r in outbound_rows(node)}
    finally:
        archive.stop()
