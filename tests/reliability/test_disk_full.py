"""A spool disk at its free-space watermark: C-STOREs are refused with 0xA700 and nothing is
written, and the node keeps answering; freeing space (here: lowering the watermark and
restarting) lets the same instances in."""

from __future__ import annotations

import pytest

from tests.support import echoscu, pynetdicom_store, storescu

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


def test_store_below_the_watermark_is_refused_out_of_resources(start_node, phantom_study) -> None:
    # A watermark larger than any disk: the spool's disk is "full" from the first instance.
    node = start_node(node={"min_free_mb": 10**9})
    response = pynetdicom_store(node.port, phantom_study.files[0])
    assert response is not None and response.Status == 0xA700
    assert "spool disk full" in str(response.get("ErrorComment", ""))
    assert storescu(node.port, *phantom_study.files[:5]).returncode != 0
    spool = node.data_dir / "spool"
    assert not spool.exists() or [p for p in spool.rglob("*") if p.is_file()] == []
    assert node.counts()["instances"] == 0
    assert echoscu(node.port) == 0  # the node still answers
    assert "refused (0xA700): spool disk full" in node.log()
    node.stop()

    roomy = start_node(data_dir=node.data_dir, node={"min_free_mb": 1})
    assert storescu(roomy.port, *phantom_study.files[:5]).returncode == 0
    assert roomy.counts()["instances"] == 5
