"""Test-time mirror averaging: the network run on mirror images of a crop, its logits averaged.

Training flips each crop axis at random (``training/data.py``), so every mirror image of
a crop is an input the network has learnt from. Its answers to them differ, and their average
(un-mirrored) was the better mask on validation phantoms (``models/README.md``). The first
image is always the crop itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Axes = tuple[int, ...]
# In the order they are added: the full point reflection first, then a single axis and its
# complement, so 2 and 4 images already mirror every axis.
MIRRORS: tuple[Axes, ...] = ((), (0, 1, 2), (0,), (1, 2), (1,), (0, 2), (2,), (0, 1))
IMAGE_COUNTS = (1, 2, 4, 8)


def mirror_set(count: int) -> tuple[Axes, ...]:
    """The crop axes flipped by each of ``count`` images (1: the network alone).

    Raises
    ------
    ValueError
        ``count`` is not 1, 2, 4 or 8.
    """
    if count not in IMAGE_COUNTS:
        raise ValueError(f"mirror images: expected one of {IMAGE_COUNTS}, got {count}")
    return MIRRORS[:count]


def mirrored_crops(crop: np.ndarray, mirrors: Sequence[Axes]) -> np.ndarray:
    """Batch (M, 1, S, S, S) of ``crop`` [dim0, dim1, dim2] in each mirror image."""
    return np.stack([np.flip(crop, axes) for axes in mirrors])[:, None].copy()


def mirrored_points(coords: torch.Tensor, axes: Axes, size: int) -> torch.Tensor:
    """Point indices (B, N, 3) in the mirror image of a crop of ``size`` voxels per side.

    Index i becomes size - 1 - i, as the training crops' clicks do when flipped.
    """
    mirrored = coords.clone()
    for axis in axes:
        mirrored[..., axis] = size - 1 - mirrored[..., axis]
    return mirrored


def mirrored_volume(volume: torch.Tensor, axes: Axes) -> torch.Tensor:
    """(B, 1, L, L, L) logits or mask prompt in the mirror image (its own inverse).

    Trilinear upsampling without corner alignment commutes with a flip, so low-res logits
    can be averaged before they are upsampled.
    """
    return volume.flip(tuple(axis + 2 for axis in axes)) if axes else volume
