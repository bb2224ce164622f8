"""Segmentation agreement: Dice and the 95th percentile Hausdorff distance."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two binary masks (1.0 when both are empty)."""
    total = int(prediction.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int((prediction & truth).sum()) / total


def hausdorff95(prediction: np.ndarray, truth: np.ndarray,
                spacing: tuple[float, float, float]) -> float:
    """95th percentile of the symmetric surface distances, mm (inf when a mask is empty)."""
    if not prediction.any() or not truth.any():
        return float("inf")
    a, b = _surface(prediction), _surface(truth)
    to_b = ndimage.distance_transform_edt(~b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~a, sampling=spacing)
    return float(np.percentile(np.concatenate([to_b[a], to_a[b]]), 95))


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)
