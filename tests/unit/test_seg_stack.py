"""The SEG's overlap check, done plane by plane, says what highdicom's whole-stack sum says."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest

from seganypet_node.outputs.seg_stack import PlaneCheckedSegmentation

BINARY = hd.seg.SegmentationTypeValues.BINARY


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("by_segment", [False, True])
def test_overlap_per_plane_agrees_with_highdicom(seed: int, by_segment: bool) -> None:
    """Also for the transposed view the SEG builder passes (stored segment by segment)."""
    rng = np.random.default_rng(seed)
    stack = np.zeros((4, 9, 12, 10), np.uint8).transpose(1, 2, 3, 0) if by_segment \
        else np.zeros((9, 12, 10, 4), np.uint8)
    for segment in range(4):
        z, y, x = rng.integers(0, 6, 3)
        stack[z:z + 3, y:y + 5, x:x + 4, segment] = 1
    numbers = np.arange(1, 5)
    ours = PlaneCheckedSegmentation._check_and_cast_pixel_array(stack, numbers, BINARY, np.uint8)
    theirs = hd.seg.Segmentation._check_and_cast_pixel_array(stack, numbers, BINARY, np.uint8)
    assert ours[1] == theirs[1]
    assert ours[0] is stack  # no copy of the stack either


def test_a_stack_that_is_not_binary_is_refused() -> None:
    stack = np.zeros((2, 3, 3, 2), np.uint8)
    stack[0, 0, 0, 1] = 2
    with pytest.raises(ValueError, match="binary"):
        PlaneCheckedSegmentation._check_and_cast_pixel_array(stack, np.arange(1, 3), BINARY,
                                                             np.uint8)


@pytest.mark.parametrize("by_segment", [False, True])
def test_disjoint_segments_and_an_overlap_in_the_last_plane_only(by_segment: bool) -> None:
    stack = np.zeros((3, 6, 8, 8), np.uint8).transpose(1, 2, 3, 0) if by_segment \
        else np.zeros((6, 8, 8, 3), np.uint8)
    stack[0:3, :, :4, 0] = 1
    stack[0:3, :, 4:, 1] = 1  # beside segment 1, not on it
    stack[5, 2:4, 2:4, 2] = 1
    numbers = np.arange(1, 4)
    check = PlaneCheckedSegmentation._check_and_cast_pixel_array
    assert check(stack, numbers, BINARY, np.uint8)[1] is hd.seg.SegmentsOverlapValues.NO
    stack[5, 3, 3, 0] = 1  # one voxel of the last plane in two segments
    assert check(stack, numbers, BINARY, np.uint8)[1] is hd.seg.SegmentsOverlapValues.YES
