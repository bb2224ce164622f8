"""SIGKILL of the node in the middle of a transfer loses nothing that was acknowledged, and
``check`` then finds spool and database in agreement (after repairing crash leftovers)."""

from __future__ import annotations

import time

import pydicom
import pytest
from sqlalchemy import select

from seganypet_node.db.models import Instance, Series
from seganypet_node.db.states import CompletionRule, SeriesState
from tests.support import acknowledged_files, cli, start_storescu, stop_process, storescu

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


def test_kill_mid_transfer_then_resend(start_node, phantom_study) -> None:
    node = start_node(completion={"quiet_period_s": 3600})
    sender = start_storescu(node.port, phantom_study.dicom_dir, verbose=True)
    try:
        spool = node.data_dir / "spool"
        deadline = time.monotonic() + 60
        while len(list(spool.rglob("*.dcm"))) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        node.kill()
        out, err = sender.communicate(timeout=60)
    finally:
        stop_process(sender)
    acked = acknowledged_files(out + err)
    # The file being written when the kill came may be on disk without its acknowledgement.
    assert 90 <= len(acked) < 300, "the kill did not land mid-transfer"
    assert sender.returncode != 0

    # At most the instance in flight is on disk without its row (or as a temp file).
    checked = cli("--config", str(node.config_path), "check", "--repair")
    assert "unresolved" not in checked.stdout or " 0 unresolved" in checked.stdout, checked.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr
    leftovers = checked.stdout.count(": removed") + checked.stdout.count(": recorded")
    assert leftovers <= 1, checked.stdout
    assert cli("--config", str(node.config_path), "check").stdout.strip().endswith("consistent")

    restarted = start_node(data_dir=node.data_dir, port=node.port)
    with restarted.session() as s:
        rows = {r.sop_instance_uid: r.spool_path for r in s.scalars(select(Instance))}
    for path in acked:
        sent = pydicom.dcmread(path)
        assert sent.SOPInstanceUID in rows, f"acknowledged {path} lost"
        stored = pydicom.dcmread(spool / rows[sent.SOPInstanceUID])
        assert stored.PixelData == sent.PixelData

    result = storescu(restarted.port, phantom_study.dicom_dir)
    assert result.returncode == 0, result.stderr
    assert restarted.counts() == {"instances": 300, "series": 1, "jobs": 1}
    with restarted.session() as s:
        series = s.scalars(select(Series)).one()
    assert series.state is SeriesState.COMPLETE
    assert series.completion_rule is CompletionRule.COUNT
    assert series.received_instances == 300
