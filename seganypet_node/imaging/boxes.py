"""Bounding boxes of masks, widened by a margin and clipped to the image.

Work on an organ or a focus is done in its box: the voxels outside it cannot change the
answer, and a box keeps the cost of a step tied to the object, not to the field of view.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

Box = tuple[slice, ...]


def mask_box(mask: np.ndarray) -> Box | None:
    """The bounding box of the mask's non-zero voxels, or None when there are none."""
    found = ndimage.find_objects(np.asarray(mask).astype(np.uint8, copy=False))
    if not found or found[0] is None:
        return None
    return tuple(found[0])


def widened(box: Box, shape: Sequence[int], spacing_zyx: Sequence[float],
            margin_mm: float, extra_voxels: int = 0) -> Box:
    """``box`` grown by ``margin_mm`` (rounded up to whole voxels) plus ``extra_voxels`` on
    every side, clipped to an image of ``shape``."""
    pad = [int(np.ceil(margin_mm / s)) + extra_voxels for s in spacing_zyx]
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p))
                 for b, p, n in zip(box, pad, shape, strict=True))


def box_around(mask: np.ndarray, spacing_zyx: Sequence[float], margin_mm: float,
               extra_voxels: int = 0) -> Box:
    """The mask's bounding box widened by ``margin_mm`` and ``extra_voxels``.

    Raises
    ------
    ValueError
        The mask is empty.
    """
    box = mask_box(mask)
    if box is None:
        raise ValueError("the mask is empty")
    return widened(box, mask.shape, spacing_zyx, margin_mm, extra_voxels)


def at_voxel(index: Sequence[int]) -> Box:
    """The one-voxel box at ``index``."""
    return tuple(slice(int(i), int(i) + 1) for i in index)
