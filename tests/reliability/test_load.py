"""Load: 8 concurrent senders of 300-slice series while jobs are being processed."""

from __future__ import annotations

import pytest

from tests.support import peak_rss_mb, start_storescu, storescu

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]
SENDERS = 8


def test_eight_concurrent_senders_while_jobs_run(start_node, make_phantom) -> None:
    node = start_node(worker={"count": 1, "poll_interval_s": 0.2})
    # The first series completes and its job starts before the other seven are sent.
    studies = [make_phantom(61 + k, slices=300) for k in range(SENDERS + 1)]
    assert storescu(node.port, studies[0].dicom_dir).returncode == 0
    node.wait_for_jobs({"running", "done"})
    senders = [start_storescu(node.port, s.dicom_dir) for s in studies[1:]]
    errors = [p.communicate(timeout=300)[1] for p in senders]
    assert [p.returncode for p in senders] == [0] * SENDERS, errors
    assert node.counts() == {"instances": 300 * (SENDERS + 1), "series": SENDERS + 1,
                             "jobs": SENDERS + 1}
    jobs = node.wait_for_jobs({"done", "failed"}, count=SENDERS + 1, timeout_s=600)
    assert all(j.state.value == "done" and j.attempts == 1 for j in jobs), \
        [(j.id, j.state.value, j.last_error) for j in jobs]
    assert "association rejected" not in node.log()
    assert node.process is not None
    rss = peak_rss_mb(node.process.pid)
    print(f"node peak RSS with {SENDERS} senders and a running worker: {rss:.0f} MB")
    assert rss < 3000  # one job's working set plus buffers; not growing with senders
