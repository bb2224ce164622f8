"""Pieces of one organ's mask that its crops left apart, and the gaps between them.

Spread points along a long organ each centre a crop; where two points lie further apart than
a crop's extent, nothing looked at the stretch between the crops and the organ's mask falls
into pieces (the aorta, ~500 mm, into two or three on held-out phantoms). Every catalogue
organ is one piece, so the pieces are to be joined by a window over the gap, not dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.model.merging import CONNECTED
from seganypet_node.model.prediction import Prompt


@dataclass(frozen=True)
class Gap:
    """The closest approach of one piece to the largest piece of a mask.

    Parameters
    ----------
    near : tuple of int
        Voxel [z, y, x] of the largest piece nearest to the other piece.
    far : tuple of int
        Voxel [z, y, x] of the other piece nearest to the largest one.
    mm : float
        Distance between the two voxels.
    """

    near: tuple[int, int, int]
    far: tuple[int, int, int]
    mm: float


def piece_count(mask: np.ndarray) -> int:
    """Number of 26-connected pieces of a boolean mask."""
    return int(ndimage.label(mask, structure=CONNECTED)[1])


def gaps(mask: np.ndarray, spacing: Sequence[float]) -> list[Gap]:
    """One :class:`Gap` per piece other than the largest, closest first (empty for one piece).

    ``spacing`` is in array order [z, y, x]; the work is done in the mask's bounding box.
    """
    labelled = _labelled(mask)
    if labelled is None:
        return []
    box, parts = labelled
    count = int(parts.max())
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    largest = int(np.argmax(sizes))
    distance, nearest = ndimage.distance_transform_edt(
        parts != largest, sampling=spacing, return_indices=True)
    low = np.array([s.start for s in box])
    result = []
    for piece in range(1, count + 1):
        if piece == largest:
            continue
        far = tuple(int(v) for v in np.unravel_index(
            int(np.argmin(np.where(parts == piece, distance, np.inf))), parts.shape))
        near = tuple(int(nearest[axis][far]) for axis in range(3))
        result.append(Gap(_shifted(near, low), _shifted(far, low), float(distance[far])))
    return sorted(result, key=lambda gap: gap.mm)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected piece of a boolean mask (each catalogue organ is one piece)."""
    labelled = _labelled(mask)
    if labelled is None:
        return mask
    box, parts = labelled
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    result = np.zeros_like(mask)
    result[box] = parts == int(np.argmax(sizes))
    return result


def prompted_pieces(mask: np.ndarray, prompts: Sequence[Prompt], image: sitk.Image,
                    offset: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """The 26-connected pieces of ``mask`` that hold a positive prompt, else its largest piece.

    Every catalogue organ is one piece, but pieces the crops or the network left apart that
    each hold a checked landmark are organ all the same; a stray piece holds none. ``mask``
    may be a box of ``image``'s grid whose first voxel is ``offset`` ([z, y, x]).
    """
    labelled = _labelled(mask)
    if labelled is None:
        return mask
    box, parts = labelled
    held = set()
    for prompt in (p for p in prompts if p.positive):
        index = image.TransformPhysicalPointToIndex(prompt.point)[::-1]
        local = tuple(i - o - s.start for i, o, s in zip(index, offset, box, strict=True))
        if all(0 <= i < n for i, n in zip(local, parts.shape, strict=True)):
            held.add(int(parts[local]))
    held.discard(0)  # a prompt on background
    if not held:
        return largest_component(mask)
    result = np.zeros_like(mask)
    result[box] = np.isin(parts, sorted(held))
    return result


def _labelled(mask: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """Bounding box and piece labels of a mask in more than one piece, else None."""
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found:
        return None
    parts, count = ndimage.label(mask[found[0]], structure=CONNECTED)
    return (found[0], parts) if count > 1 else None


def _shifted(index: Sequence[int], low: np.ndarray) -> tuple[int, int, int]:
    z, y, x = (int(v) for v in np.asarray(index) + low)
    return (z, y, x)
