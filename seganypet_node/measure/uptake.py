"""Uptake statistics of one region: volume, mean, max, peak, SD; MTV and TLG for lesions.

SUVpeak follows PERCIST: the highest mean uptake in a 1 ml sphere (radius 6.2 mm) whose centre
lies in the region. The sphere is a true sphere in millimetres, with each voxel weighted by the
fraction of it inside (voxels are supersampled), not a cube of voxels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask, box_around
from seganypet_node.imaging.units import Unit

PEAK_SPHERE_ML = 1.0
LESION_HALO_MM = 6.0  # a lesion's blur spill an organ's figures leave out (about 1 FWHM)
SUPERSAMPLING = 5  # sub-voxel samples per axis when weighting a sphere's edge voxels


@dataclass(frozen=True)
class UptakeStats:
    """Measurements of one region in ``unit`` (SUVbw when the header allows it).

    Parameters
    ----------
    unit : Unit
        "SUVbw", "Bq/ml" or the series' Units when neither can be had.
    volume_ml, mean, maximum, sd : float
        Sum of voxel volumes, and the statistics of the voxel values inside the region.
    peak : float
        Highest mean in a 1 ml sphere centred in the region (SUVpeak).
    tlg : float | None
        Total lesion glycolysis, volume x mean (g when the unit is SUVbw); lesions only.
    """

    unit: Unit
    volume_ml: float
    mean: float
    maximum: float
    sd: float
    peak: float
    tlg: float | None = None


def uptake_stats(values: np.ndarray, mask: np.ndarray, spacing_zyx: Sequence[float], unit: Unit,
                 lesion: bool = False, peak_centres: np.ndarray | None = None) -> UptakeStats:
    """Statistics of ``values`` inside a non-empty boolean ``mask`` of the same shape.

    Parameters
    ----------
    values, mask : numpy.ndarray
        Arrays indexed (z, y, x).
    spacing_zyx : sequence of float
        Voxel size in mm along the array axes.
    lesion : bool
        Also report TLG (the volume is the lesion's metabolic volume, MTV).
    peak_centres : numpy.ndarray, optional
        Where the SUVpeak sphere may be centred (default: anywhere in ``mask``).
    """
    inside = values[mask]
    if inside.size == 0:
        raise ValueError("the mask is empty")
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    volume = float(inside.size * voxel_ml)
    mean = float(inside.mean())
    sd = float(inside.std(ddof=1)) if inside.size > 1 else 0.0
    centres = mask if peak_centres is None or not peak_centres.any() else peak_centres
    peak = sphere_peak(values, centres, spacing_zyx)
    return UptakeStats(unit, volume, mean, float(inside.max()), sd, peak,
                       volume * mean if lesion else None)


def uptake_in_box(values: np.ndarray, mask: BoxMask, spacing_zyx: Sequence[float],
                  unit: Unit, lesion: bool = False) -> UptakeStats:
    """:func:`uptake_stats` of a mask held on its box, worked out in that box widened by the
    peak sphere's radius (the sphere still sees the voxels beyond the region's edge)."""
    box = mask.around(spacing_zyx, sphere_radius_mm(PEAK_SPHERE_ML))
    return uptake_stats(values[box], mask.within(box), spacing_zyx, unit, lesion)


def uptake_without(values: np.ndarray, mask: BoxMask, excluded: np.ndarray,
                   spacing_zyx: Sequence[float], unit: Unit,
                   halo_mm: float = LESION_HALO_MM) -> UptakeStats:
    """An organ's uptake without the ``excluded`` voxels (its lesions) and the halo the
    scanner's blur spreads round them; the SUVpeak sphere is kept off them too. The volume is
    the whole organ's."""
    # a peak sphere near the organ's edge still sees the voxels beyond it
    box = mask.around(spacing_zyx, sphere_radius_mm(PEAK_SPHERE_ML) + 1.0)
    organ, other = mask.within(box), excluded[box]
    distance = ndimage.distance_transform_edt(~other, sampling=spacing_zyx)
    clean = organ & (distance > halo_mm)
    if not clean.any():
        clean = organ & ~other
    if not clean.any():
        clean = organ
    centres = clean & (distance > halo_mm + sphere_radius_mm(PEAK_SPHERE_ML))
    stats = uptake_stats(values[box], clean, spacing_zyx, unit, peak_centres=centres)
    whole = float(organ.sum() * np.prod(spacing_zyx) / 1000.0)
    return dataclasses.replace(stats, volume_ml=whole)


def sphere_kernel(radius_mm: float, spacing_zyx: Sequence[float]) -> np.ndarray:
    """Fraction of each voxel inside a sphere of ``radius_mm`` centred on the middle voxel."""
    spacing = np.asarray(spacing_zyx, float)
    half = np.ceil(radius_mm / spacing - 0.5).astype(int)
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING - 0.5
    axes = [np.add.outer(np.arange(-h, h + 1), offsets).ravel() * s
            for h, s in zip(half, spacing, strict=True)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    inside = (z**2 + y**2 + x**2 <= radius_mm**2).astype(np.float64)
    shape = tuple(int(2 * h + 1) for h in half)
    blocks = inside.reshape(shape[0], SUPERSAMPLING, shape[1], SUPERSAMPLING,
                            shape[2], SUPERSAMPLING)
    return blocks.mean(axis=(1, 3, 5))


def sphere_radius_mm(volume_ml: float) -> float:
    """Radius of a sphere of the given volume."""
    return float((3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0))


def sphere_peak(values: np.ndarray, mask: np.ndarray, spacing_zyx: Sequence[float],
                volume_ml: float = PEAK_SPHERE_ML) -> float:
    """Highest sphere mean over centres inside ``mask`` (voxels outside the image count as 0)."""
    kernel = sphere_kernel(sphere_radius_mm(volume_ml), spacing_zyx)
    kernel /= kernel.sum()
    # at least the kernel's half-width beyond the mask, so every centre sees its whole sphere
    window = box_around(mask, spacing_zyx, sphere_radius_mm(volume_ml))
    means = ndimage.correlate(values[window].astype(np.float64), kernel, mode="constant")
    return float(means[mask[window]].max())
