"""Bounding boxes of masks, widened by a margin and clipped to the image.

Work on an organ or a focus is done in its box: the voxels outside it cannot change the
answer, and a box keeps the cost of a step tied to the object, not to the field of view.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

Box = tuple[slice, ...]


def mask_box(mask: np.ndarray) -> Box | None:
    """The bounding box of the mask's non-zero voxels, or None when there are none."""
    mask = np.asarray(mask)
    # A bool mask is read as its bytes (no copy: 117 MB at 2 mm); other types are made 0/1.
    labels = mask.view(np.uint8) if mask.dtype == bool else (mask != 0).astype(np.uint8)
    found = ndimage.find_objects(labels)
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


def overlap(a: Box, b: Box) -> tuple[Box, Box] | None:
    """Where boxes ``a`` and ``b`` meet, as slices into an array on ``a`` and one on ``b``;
    None when they do not meet."""
    shared = [slice(max(x.start, y.start), min(x.stop, y.stop))
              for x, y in zip(a, b, strict=True)]
    if any(s.stop <= s.start for s in shared):
        return None
    return _within(shared, a), _within(shared, b)


def placed_in(box: Box, values: np.ndarray, values_box: Box, fill: float = 0) -> np.ndarray:
    """``values``, held on ``values_box`` of a grid, as an array on ``box`` of the same grid
    (``fill`` where they do not reach)."""
    out = np.full([b.stop - b.start for b in box], fill, dtype=values.dtype)
    met = overlap(box, values_box)
    if met is not None:
        here, there = met
        out[here] = values[there]
    return out


def _within(region: Sequence[slice], box: Box) -> Box:
    return tuple(slice(r.start - b.start, r.stop - b.start)
                 for r, b in zip(region, box, strict=True))


def require_box_mask(value: object, what: str) -> None:
    """Raise early when a domain value is given a mask that is not a :class:`BoxMask`.

    Raises
    ------
    TypeError
        ``value`` is neither None nor a BoxMask (a bare array: wrap it in ``BoxMask.of``).
    """
    if value is not None and not isinstance(value, BoxMask):
        raise TypeError(f"{what} must be a BoxMask (BoxMask.of(array)), not "
                        f"{type(value).__name__}")


@dataclass(frozen=True, eq=False)
class BoxMask:
    """A boolean mask on an image grid, held on its bounding box.

    An organ's mask as a full array costs the field of view (117 MB at 2 mm, 900 x 360^2);
    held on its box it costs the organ. Ask for :meth:`within` a box, or :meth:`full` only
    where a whole-grid array is the product (a label volume written to disk).

    Parameters
    ----------
    shape : tuple of int
        The grid's [z, y, x] shape.
    box : Box
        The mask's bounding box on that grid, tight (empty slices for an empty mask):
        build one with :meth:`of`, which trims it.
    local : numpy.ndarray
        bool, the mask within ``box``.
    """

    shape: tuple[int, ...]
    box: Box
    local: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.local.shape != tuple(b.stop - b.start for b in self.box):
            raise ValueError(f"mask of shape {self.local.shape} does not fill box {self.box}")
        if len(self.box) != len(self.shape) or any(
                b.start < 0 or b.stop > n for b, n in zip(self.box, self.shape, strict=True)):
            raise ValueError(f"box {self.box} is not inside a grid of {self.shape}")

    @classmethod
    def of(cls, mask: np.ndarray, box: Box | None = None,
           shape: Sequence[int] | None = None) -> BoxMask:
        """A full-grid mask, or one held on ``box`` of a grid of ``shape``, trimmed to the
        bounding box of its voxels."""
        mask = np.asarray(mask, dtype=bool)
        if box is None:
            box, shape = tuple(slice(0, n) for n in mask.shape), mask.shape
        if shape is None:
            raise ValueError("a mask held on a box needs the grid's shape")
        if mask.shape != tuple(b.stop - b.start for b in box):
            raise ValueError(f"mask of shape {mask.shape} does not fill box {box}")
        tight = mask_box(mask)
        if tight is None:
            return cls(tuple(shape), tuple(slice(0, 0) for _ in shape),
                       np.zeros((0,) * len(shape), bool))
        return cls(tuple(shape), tuple(slice(b.start + t.start, b.start + t.stop)
                                       for b, t in zip(box, tight, strict=True)),
                   np.ascontiguousarray(mask[tight]))

    @property
    def voxels(self) -> int:
        """How many voxels the mask holds."""
        return int(np.count_nonzero(self.local))

    def any(self) -> bool:
        """Whether the mask holds any voxel."""
        return bool(self.local.any())

    def within(self, box: Box) -> np.ndarray:
        """The mask in any ``box`` of the grid (False where it has no voxel)."""
        return placed_in(box, self.local, self.box, False)

    def around(self, spacing_zyx: Sequence[float], margin_mm: float,
               extra_voxels: int = 0) -> Box:
        """The bounding box widened by ``margin_mm`` and ``extra_voxels``, clipped to the grid.

        Raises
        ------
        ValueError
            The mask is empty.
        """
        if not self.local.size:
            raise ValueError("the mask is empty")
        return widened(self.box, self.shape, spacing_zyx, margin_mm, extra_voxels)

    def indices(self) -> np.ndarray:
        """[z, y, x] grid indices (N, 3) of the mask's voxels."""
        return np.argwhere(self.local) + np.array([b.start for b in self.box], dtype=int)

    def levels(self) -> np.ndarray:
        """The slice indices (first axis) the mask has voxels on, ascending."""
        return np.nonzero(self.local.any(axis=(1, 2)))[0] + self.box[0].start

    def any_along(self, axis: int) -> np.ndarray:
        """Where the mask has a voxel along ``axis``: the projection, on the other two axes of
        the whole grid (a coronal outline for ``axis=1``)."""
        kept = [n for i, n in enumerate(self.shape) if i != axis]
        out = np.zeros(kept, dtype=bool)
        out[tuple(b for i, b in enumerate(self.box) if i != axis)] = self.local.any(axis=axis)
        return out

    def values_in(self, values: np.ndarray) -> np.ndarray:
        """The voxels of ``values`` (on the same grid) inside the mask."""
        return values[self.box][self.local]

    def placed(self, box: Box, shape: Sequence[int]) -> BoxMask:
        """This mask, whose grid is ``box`` of a larger grid of ``shape``, on that grid."""
        return BoxMask(tuple(shape), tuple(slice(o.start + b.start, o.start + b.stop)
                                           for o, b in zip(box, self.box, strict=True)),
                       self.local)

    def full(self) -> np.ndarray:
        """The mask as a bool array of the whole grid (the field of view's cost)."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.box] = self.local
        return out
