"""Uptake statistics of one organ mask (volume, mean, max, standard deviation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UptakeStats:
    """Measurements of one region in ``unit`` (SUVbw when the header allows it).

    Parameters
    ----------
    unit : str
        "SUVbw", "Bq/ml" or the series' Units when neither can be had.
    volume_ml, mean, maximum, sd : float
        Sum of voxel volumes, and the statistics of the voxel values inside the region.
    """

    unit: str
    volume_ml: float
    mean: float
    maximum: float
    sd: float


def uptake_stats(values: np.ndarray, mask: np.ndarray, voxel_ml: float, unit: str) -> UptakeStats:
    """Statistics of ``values`` inside a non-empty boolean ``mask`` of the same shape."""
    inside = values[mask]
    if inside.size == 0:
        raise ValueError("the mask is empty")
    sd = float(inside.std(ddof=1)) if inside.size > 1 else 0.0
    return UptakeStats(unit, float(inside.size * voxel_ml), float(inside.mean()),
                       float(inside.max()), sd)
