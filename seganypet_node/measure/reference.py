"""Reference regions a reader compares lesions with (PERCIST): liver and mediastinal blood pool.

- Liver: a 3 cm diameter sphere in the right lobe, placed as deep inside the liver as it goes.
- Blood pool: the core of the segmented aorta (at least 4 mm from its wall) in a 2 cm slab
  around its widest point, standing in for PERCIST's 1 cm x 2 cm cylinder in the descending
  thoracic aorta.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

LIVER_SPHERE_RADIUS_MM = 15.0
AORTA_CORE_MM = 4.0
AORTA_SLAB_MM = 20.0


@dataclass(frozen=True)
class ReferenceRegion:
    """Mean and SD of a reference region, where it is, and any caveat.

    Parameters
    ----------
    name : str
        "liver" or "blood pool".
    mean, sd, volume_ml : float
        Statistics in the measured unit, and the region's volume.
    centre_index : tuple of int
        (z, y, x) index of its centre.
    note : str | None
        Set when the region could not be placed as the rule wants.
    """

    name: str
    mean: float
    sd: float
    volume_ml: float
    centre_index: tuple[int, int, int]
    note: str | None = None


def liver_reference(values: np.ndarray, liver: np.ndarray, spacing_zyx: Sequence[float],
                    right_is_low_x: bool = True) -> ReferenceRegion:
    """PERCIST liver reference: 3 cm sphere within the liver, in its right lobe.

    ``right_is_low_x`` says which way the patient's right lies along the array's x axis
    (True for LPS images whose direction has a positive x column).
    """
    box = _box(liver)
    return _uncropped(_liver_in_box(values[box], liver[box], spacing_zyx, right_is_low_x), box)


def _liver_in_box(values: np.ndarray, liver: np.ndarray, spacing_zyx: Sequence[float],
                           right_is_low_x: bool) -> ReferenceRegion:
    """:func:`liver_reference` on arrays cropped around the liver (indices in the crop)."""
    depth = ndimage.distance_transform_edt(liver, sampling=spacing_zyx)
    columns = np.nonzero(liver)[2]
    middle = np.median(columns)
    side = np.arange(liver.shape[2]) <= middle if right_is_low_x \
        else np.arange(liver.shape[2]) >= middle
    right_depth = np.where(side[None, None, :], depth, 0.0)
    centre = _index(np.unravel_index(int(np.argmax(right_depth)), liver.shape))
    note = None
    if right_depth[centre] < LIVER_SPHERE_RADIUS_MM:
        note = (f"the 3 cm sphere does not fit in the liver (deepest point "
                f"{right_depth[centre]:.0f} mm from its edge); clipped to the liver")
    sphere = _ball(liver.shape, centre, LIVER_SPHERE_RADIUS_MM, spacing_zyx) & liver
    return _region("liver", values, sphere, spacing_zyx, centre, note)


def blood_pool_reference(values: np.ndarray, aorta: np.ndarray,
                         spacing_zyx: Sequence[float]) -> ReferenceRegion:
    """Mediastinal blood pool from the aorta mask: its core in a 2 cm axial slab."""
    box = _box(aorta)
    return _uncropped(_blood_pool_in_box(values[box], aorta[box], spacing_zyx), box)


def _blood_pool_in_box(values: np.ndarray, aorta: np.ndarray,
                       spacing_zyx: Sequence[float]) -> ReferenceRegion:
    depth = ndimage.distance_transform_edt(aorta, sampling=spacing_zyx)
    centre = _index(np.unravel_index(int(np.argmax(depth)), aorta.shape))
    half = max(1, round(AORTA_SLAB_MM / 2 / spacing_zyx[0]))
    slab = np.zeros_like(aorta)
    slab[max(0, centre[0] - half):centre[0] + half + 1] = True
    core = aorta & slab & (depth >= AORTA_CORE_MM)
    note = None
    if core.sum() < 2:
        core = aorta & slab
        note = f"the aorta is too thin for a {AORTA_CORE_MM:.0f} mm core; whole lumen used"
    return _region("blood pool", values, core, spacing_zyx, centre, note)


def _box(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask, one voxel wider where the image allows (the EDT then
    sees background all round)."""
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found or found[0] is None:
        raise ValueError("the mask is empty")
    return tuple(slice(max(0, s.start - 1), min(n, s.stop + 1))
                 for s, n in zip(found[0], mask.shape, strict=True))


def _uncropped(region: ReferenceRegion, box: tuple[slice, ...]) -> ReferenceRegion:
    """A region found in a crop, with its centre in the whole image's indices."""
    centre = _index(tuple(c + s.start for c, s in zip(region.centre_index, box, strict=True)))
    return dataclasses.replace(region, centre_index=centre)


def _index(index: tuple[Any, ...]) -> tuple[int, int, int]:
    return int(index[0]), int(index[1]), int(index[2])


def _ball(shape: tuple[int, ...], centre: tuple[int, ...], radius_mm: float,
          spacing_zyx: Sequence[float]) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing_zyx, strict=True))
    return np.asarray(distance <= radius_mm**2)


def _region(name: str, values: np.ndarray, region: np.ndarray, spacing_zyx: Sequence[float],
            centre: tuple[int, int, int], note: str | None) -> ReferenceRegion:
    inside = values[region]
    sd = float(inside.std(ddof=1)) if inside.size > 1 else 0.0
    volume = float(inside.size * np.prod(spacing_zyx) / 1000.0)
    return ReferenceRegion(name, float(inside.mean()), sd, volume, centre, note)
