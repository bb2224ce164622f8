"""Bounding boxes widened in millimetres and clipped to the image."""
from __future__ import annotations

import numpy as np
import pytest

from seganypet_node.imaging.boxes import at_voxel, box_around, mask_box, widened


def test_a_box_widens_by_whole_voxels_per_axis_and_stays_in_the_image() -> None:
    mask = np.zeros((10, 20, 30), bool)
    mask[1, 5:7, 25:29] = True
    assert mask_box(mask) == (slice(1, 2), slice(5, 7), slice(25, 29))
    # 5 mm on 4 mm slices is 2 voxels, on 2 mm pixels 3; the image clips the rest
    assert box_around(mask, (4.0, 2.0, 2.0), 5.0) == (slice(0, 4), slice(2, 10), slice(22, 30))
    assert box_around(mask, (4.0, 2.0, 2.0), 0.0, extra_voxels=1) == (
        slice(0, 3), slice(4, 8), slice(24, 30))


def test_an_empty_mask_has_no_box() -> None:
    empty = np.zeros((3, 3, 3), bool)
    assert mask_box(empty) is None
    with pytest.raises(ValueError, match="empty"):
        box_around(empty, (1.0, 1.0, 1.0), 2.0)


def test_a_voxel_box_grows_round_its_voxel() -> None:
    assert widened(at_voxel((0, 5, 9)), (4, 10, 10), (1.0, 1.0, 1.0), 2.0) == (
        slice(0, 3), slice(3, 8), slice(7, 10))
