"""The worker's memory estimate: voxels set the line, segments past the measured ones add to it."""

from __future__ import annotations

import pytest

from seganypet_node.pipeline.memory import (
    MEASURED_SEGMENTS,
    MemoryBudgetError,
    check_budget,
    estimated_peak_mb,
)

TWO_MM = 900 * 360 * 360


def test_more_segments_than_were_measured_need_more_memory() -> None:
    plain = estimated_peak_mb(TWO_MM)
    assert estimated_peak_mb(TWO_MM, MEASURED_SEGMENTS - 5) == plain  # never less than fitted
    assert estimated_peak_mb(TWO_MM, MEASURED_SEGMENTS + 40) > plain + 1000  # 40 lesions
    assert estimated_peak_mb(2 * TWO_MM) > plain  # and the voxels set the line


def test_the_budget_names_the_study_its_segments_and_the_setting() -> None:
    check_budget(TWO_MM, estimated_peak_mb(TWO_MM, 52) + 1, 52)
    with pytest.raises(MemoryBudgetError, match=r"117 M voxels, up to 52 segments.*"
                                                r"memory_budget_mb = 2000"):
        check_budget(TWO_MM, 2000, 52)
    check_budget(TWO_MM, 0, 52)  # 0: no budget
