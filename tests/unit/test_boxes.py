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


def test_overlap_gives_the_shared_part_in_each_boxs_own_indices() -> None:
    from seganypet_node.imaging.boxes import overlap

    a = (slice(2, 10), slice(0, 5), slice(4, 8))
    b = (slice(6, 20), slice(3, 9), slice(0, 6))
    here, there = overlap(a, b) or ((), ())
    assert here == (slice(4, 8), slice(3, 5), slice(0, 2))
    assert there == (slice(0, 4), slice(0, 2), slice(4, 6))
    assert overlap(a, (slice(10, 12), slice(0, 5), slice(4, 8))) is None  # touching faces


def test_a_box_mask_holds_a_mask_on_its_bounding_box_and_gives_it_back_anywhere() -> None:
    import numpy as np
    import pytest

    from seganypet_node.imaging.boxes import BoxMask

    full = np.zeros((20, 16, 18), bool)
    full[3:7, 5:9, 10:12] = True
    full[8, 6, 2] = True
    held = BoxMask.of(full)
    assert held.box == (slice(3, 9), slice(5, 9), slice(2, 12)) and held.local.shape == (6, 4, 10)
    assert np.array_equal(held.full(), full) and held.voxels == int(full.sum()) and held.any()
    box = (slice(0, 5), slice(0, 16), slice(9, 18))  # partly outside the mask's box
    assert np.array_equal(held.within(box), full[box])
    assert np.array_equal(held.any_along(1), full.any(axis=1))
    assert np.array_equal(held.levels(), np.nonzero(full.any(axis=(1, 2)))[0])
    assert np.array_equal(np.sort(held.indices(), axis=0), np.sort(np.argwhere(full), axis=0))
    values = np.arange(full.size, dtype=float).reshape(full.shape)
    assert np.array_equal(np.sort(held.values_in(values)), np.sort(values[full]))
    # held on a box of a larger grid, then placed on that grid
    on_box = BoxMask.of(full[2:12], (slice(2, 12), slice(0, 16), slice(0, 18)), (40, 16, 18))
    assert on_box.box == held.box and on_box.shape == (40, 16, 18)  # the grid's own indices
    placed = held.placed((slice(10, 30), slice(0, 16), slice(0, 18)), (40, 16, 18))
    assert np.array_equal(placed.full()[10:30], full)
    empty = BoxMask.of(np.zeros((4, 4, 4), bool))
    assert not empty.any() and empty.voxels == 0 and not empty.full().any()
    assert not empty.within((slice(0, 2),) * 3).any() and empty.levels().size == 0
    with pytest.raises(ValueError, match="empty"):
        empty.around((1.0, 1.0, 1.0), 2.0)
    with pytest.raises(ValueError, match="does not fill"):
        BoxMask((4, 4, 4), (slice(0, 2),) * 3, np.ones((3, 3, 3), bool))


def test_domain_values_refuse_a_bare_array_as_their_mask() -> None:
    import numpy as np
    import pytest

    from seganypet_node.pipeline.results import OrganResult

    with pytest.raises(TypeError, match="liver mask must be a BoxMask"):
        OrganResult("liver", np.ones((2, 2, 2), bool), None, ())
