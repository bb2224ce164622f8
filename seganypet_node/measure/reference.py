"""Reference regions a reader compares lesions with (PERCIST, Deauville): liver and blood pool.

- Liver: a 3 cm diameter sphere in the right lobe, placed as far from the liver's edge and from
  any lesion as it goes; lesion voxels and voxels far above the liver's median (more than 3
  robust SD) are left out, and a note says when the liver is not normal.
- Blood pool: PERCIST's 1 cm diameter, 2 cm long cylinder in the descending thoracic aorta (the
  aorta mask's most posterior piece just above the liver, followed upwards slice by slice; at
  the heart's level when the heart is known).
  When no thoracic piece is in the field, the aorta's core at its widest point, with a note.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask, box_around, require_box_mask

LIVER_SPHERE_RADIUS_MM = 15.0
CYLINDER_RADIUS_MM = 5.0
CYLINDER_LENGTH_MM = 20.0
AORTA_CORE_MM = 4.0
MIN_LUMEN_MM2 = 50.0  # a piece of the aorta mask smaller than a 8 mm lumen is a stray bit
TRACK_STEP_MM = 12.0  # the descending aorta moves less than this from one slice to the next
HOT_LIVER_ROBUST_SD = 3.0  # voxels this far above the liver's median are not normal liver
HETEROGENEOUS_LIVER_CV = 0.3


class ReferenceKind(enum.StrEnum):
    """Which reference a region is."""

    LIVER = "liver"
    BLOOD_POOL = "blood pool"


@dataclass(frozen=True, eq=False)
class ReferenceRegion:
    """Mean and SD of a reference region, where it is, and any caveat.

    Parameters
    ----------
    name : ReferenceKind
        Liver or blood pool.
    mean, sd, volume_ml : float
        Statistics in the measured unit, and the region's volume.
    centre_index : tuple of int
        (z, y, x) index of its centre.
    note : str | None
        Set when the region could not be placed as the rule wants, or the tissue is not normal.
    site : str
        Where it was placed, in words (e.g. "descending thoracic aorta").
    mask : BoxMask | None
        The voxels measured (on the input grid), written as a SEG segment.
    sul_per_value : float | None
        SUL per measured value (lean body mass / weight for SUVbw), None when unknown.
    """

    name: ReferenceKind
    mean: float
    sd: float
    volume_ml: float
    centre_index: tuple[int, int, int]
    note: str | None = None
    site: str = ""
    mask: BoxMask | None = None
    sul_per_value: float | None = None

    def __post_init__(self) -> None:
        require_box_mask(self.mask, f"{self.name} reference mask")

    @property
    def sul_mean(self) -> float | None:
        """Mean in SUL, when lean body mass is known."""
        return None if self.sul_per_value is None else self.mean * self.sul_per_value

    @property
    def sul_sd(self) -> float | None:
        """SD in SUL, when lean body mass is known."""
        return None if self.sul_per_value is None else self.sd * self.sul_per_value


@dataclass(frozen=True)
class Orientation:
    """Which way the patient's right, back and head lie along the array's x, y and z axes."""

    right_is_low_x: bool = True
    posterior_is_high_y: bool = True
    superior_is_high_z: bool = True

    @classmethod
    def of_direction(cls, direction: Sequence[float]) -> Orientation:
        """From an LPS image's direction cosines (row-major 3 x 3)."""
        return cls(direction[0] > 0, direction[4] > 0, direction[8] > 0)


def liver_reference(values: np.ndarray, liver: BoxMask, spacing_zyx: Sequence[float],
                    right_is_low_x: bool = True, lesions: np.ndarray | None = None
                    ) -> ReferenceRegion:
    """PERCIST liver reference: 3 cm sphere in the right lobe, away from lesions.

    ``right_is_low_x`` says which way the patient's right lies along the array's x axis
    (True for LPS images whose direction has a positive x column). ``lesions`` (boolean, same
    shape) are left out of the sphere and kept away from its centre.
    """
    box = liver.around(spacing_zyx, 0.0, extra_voxels=1)  # EDT sees background all round
    local_lesions = None if lesions is None else lesions[box]
    region = _liver_in_box(values[box], liver.within(box), spacing_zyx, right_is_low_x,
                           local_lesions)
    return _uncropped(region, box, liver.shape)


def _liver_in_box(values: np.ndarray, liver: np.ndarray, spacing_zyx: Sequence[float],
                  right_is_low_x: bool, lesions: np.ndarray | None) -> ReferenceRegion:
    """:func:`liver_reference` on arrays cropped around the liver (indices in the crop)."""
    lesions = np.zeros_like(liver) if lesions is None else lesions & liver
    if not (liver & ~lesions).any():  # nothing but lesion: measure the liver as it is
        lesions = np.zeros_like(liver)
    depth = ndimage.distance_transform_edt(liver & ~lesions, sampling=spacing_zyx)
    columns = np.nonzero(liver)[2]
    middle = np.median(columns)
    side = np.arange(liver.shape[2]) <= middle if right_is_low_x \
        else np.arange(liver.shape[2]) >= middle
    right_depth = np.where(side[None, None, :], depth, 0.0)
    centre = _index(np.unravel_index(int(np.argmax(right_depth)), liver.shape))
    notes = []
    if right_depth[centre] < LIVER_SPHERE_RADIUS_MM:
        notes.append(f"the 3 cm sphere does not fit in the liver away from its edge and "
                     f"lesions (deepest point {right_depth[centre]:.0f} mm); clipped")
    inside = values[liver & ~lesions]
    median = float(np.median(inside))
    robust_sd = 1.4826 * float(np.median(np.abs(inside - median)))
    ceiling = median + HOT_LIVER_ROBUST_SD * max(robust_sd, 0.05 * median)
    sphere = _ball(liver.shape, centre, LIVER_SPHERE_RADIUS_MM, spacing_zyx) & liver & ~lesions
    if not sphere.any():
        sphere = liver & ~lesions
    normal = sphere & (values <= ceiling)
    hot = int(sphere.sum() - normal.sum())
    if hot:
        notes.append(f"{hot} voxel(s) above {ceiling:.2f} (liver median + "
                     f"{HOT_LIVER_ROBUST_SD:g} robust SD) left out of the sphere")
    lesion_pieces = int(ndimage.label(lesions)[1])
    if lesion_pieces:
        notes.append(f"liver not normal: {lesion_pieces} lesion(s) in it, left out")
    spread = float(inside.std() / inside.mean()) if inside.mean() > 0 else 0.0
    if spread > HETEROGENEOUS_LIVER_CV:
        notes.append(f"liver not normal: heterogeneous uptake (SD/mean {spread:.2f})")
    return _region(ReferenceKind.LIVER, values, normal if normal.any() else sphere, spacing_zyx,
                   centre, "; ".join(notes) or None, "right lobe of the liver")


def blood_pool_reference(values: np.ndarray, aorta: BoxMask, spacing_zyx: Sequence[float],
                         orientation: Orientation | None = None,
                         liver_top_z: int | None = None, heart_centre_z: int | None = None,
                         lesions: np.ndarray | None = None) -> ReferenceRegion:
    """Blood pool: a 1 cm x 2 cm cylinder in the descending thoracic aorta.

    Parameters
    ----------
    liver_top_z, heart_centre_z : int, optional
        Slice index of the liver's dome (the thorax lies above it) and of the heart's centre
        (where the cylinder is placed); without them the thoracic aorta is the part above the
        aorta's lowest 60 %, and the cylinder sits in its middle.
    """
    box = aorta.around(spacing_zyx, 0.0, extra_voxels=1)
    first = box[0].start
    region = _blood_pool_in_box(
        values[box], aorta.within(box), spacing_zyx, orientation or Orientation(),
        None if liver_top_z is None else liver_top_z - first,
        None if heart_centre_z is None else heart_centre_z - first,
        None if lesions is None else lesions[box])
    return _uncropped(region, box, aorta.shape)


def _blood_pool_in_box(values: np.ndarray, aorta: np.ndarray, spacing_zyx: Sequence[float],
                       orientation: Orientation, liver_top_z: int | None,
                       heart_centre_z: int | None, lesions: np.ndarray | None
                       ) -> ReferenceRegion:
    usable = aorta if lesions is None else aorta & ~lesions
    if not usable.any():
        usable = aorta
    track = _descending_track(usable, orientation, liver_top_z, spacing_zyx)
    if not track:
        return _aorta_core(values, usable, spacing_zyx)
    levels = sorted(track)
    target = heart_centre_z if heart_centre_z is not None and heart_centre_z in track \
        else levels[len(levels) // 2]
    half = CYLINDER_LENGTH_MM / 2 / spacing_zyx[0]
    cylinder = np.zeros_like(aorta)
    rows, columns = np.ogrid[:aorta.shape[1], :aorta.shape[2]]
    for z in levels:
        if abs(z - target) <= half:
            cy, cx = track[z]
            disc = ((rows - cy) * spacing_zyx[1]) ** 2 + ((columns - cx) * spacing_zyx[2]) ** 2
            cylinder[z] = (disc <= CYLINDER_RADIUS_MM**2) & usable[z]
    if not cylinder.any():  # the track's centres fell outside a crooked mask
        return _aorta_core(values, usable, spacing_zyx)
    note = None
    full = np.pi * CYLINDER_RADIUS_MM**2 * CYLINDER_LENGTH_MM / 1000.0
    got = float(cylinder.sum() * np.prod(spacing_zyx) / 1000.0)
    if got < 0.5 * full:
        note = (f"the descending aorta holds only {got:.2f} ml of the {full:.2f} ml cylinder "
                f"(narrow lumen or short thoracic field)")
    centre = (int(target), round(track[target][0]), round(track[target][1]))
    return _region(ReferenceKind.BLOOD_POOL, values, cylinder, spacing_zyx, centre, note,
                   "descending thoracic aorta")


def _descending_track(aorta: np.ndarray, orientation: Orientation, liver_top_z: int | None,
                      spacing_zyx: Sequence[float]) -> dict[int, tuple[float, float]]:
    """Centre (row, column) of the descending aorta on each thoracic slice.

    The track starts just above the diaphragm at the most posterior piece big enough to be the
    aorta and follows, slice by slice upwards, the piece nearest to it; it ends where no piece
    is near (the arch, or a mask that strays), so stray bits elsewhere are never taken.
    """
    levels = np.nonzero(aorta.any(axis=(1, 2)))[0]
    if len(levels) == 0:
        return {}
    up = 1 if orientation.superior_is_high_z else -1
    if liver_top_z is None:  # the thorax: the aorta's upper 40 %
        ordered = levels[::up]
        liver_top_z = int(ordered[int(0.6 * (len(ordered) - 1))])
    pixel_mm2 = spacing_zyx[1] * spacing_zyx[2]
    track: dict[int, tuple[float, float]] = {}
    previous: np.ndarray | None = None
    for z in [int(z) for z in levels[::up] if (z - liver_top_z) * up > 0]:
        pieces, count = ndimage.label(aorta[z])
        if not count:
            break
        sizes = ndimage.sum_labels(aorta[z], pieces, range(1, count + 1)) * pixel_mm2
        centres = np.array(ndimage.center_of_mass(aorta[z], pieces, range(1, count + 1)))
        big = sizes >= MIN_LUMEN_MM2
        if previous is None:
            if not big.any():
                continue
            rows = np.where(big, centres[:, 0], -np.inf if orientation.posterior_is_high_y
                            else np.inf)
            pick = int(np.argmax(rows) if orientation.posterior_is_high_y else np.argmin(rows))
        else:
            gaps = np.hypot((centres[:, 0] - previous[0]) * spacing_zyx[1],
                            (centres[:, 1] - previous[1]) * spacing_zyx[2])
            pick = int(np.argmin(gaps))
            if gaps[pick] > TRACK_STEP_MM:
                break
        previous = centres[pick]
        track[z] = (float(previous[0]), float(previous[1]))
    return track


def _aorta_core(values: np.ndarray, aorta: np.ndarray,
                spacing_zyx: Sequence[float]) -> ReferenceRegion:
    """Fallback without a thoracic aorta: the core of the aorta at its widest point."""
    box = box_around(aorta, spacing_zyx, 0.0, extra_voxels=1)
    local = aorta[box]
    depth = ndimage.distance_transform_edt(local, sampling=spacing_zyx)
    centre = _index(np.unravel_index(int(np.argmax(depth)), local.shape))
    half = max(1, round(CYLINDER_LENGTH_MM / 2 / spacing_zyx[0]))
    slab = np.zeros_like(local)
    slab[max(0, centre[0] - half):centre[0] + half + 1] = True
    core = local & slab & (depth >= AORTA_CORE_MM)
    if core.sum() < 2:
        core = local & slab
    note = "no descending thoracic aorta in the field: the aorta's core at its widest point"
    region = _region(ReferenceKind.BLOOD_POOL, values[box], core, spacing_zyx, centre, note,
                     "aorta (not thoracic)")
    return _uncropped(region, box, aorta.shape)


def _uncropped(region: ReferenceRegion, box: tuple[slice, ...],
               shape: tuple[int, ...]) -> ReferenceRegion:
    """A region found in a crop, with its centre and mask in the whole image's indices."""
    centre = _index(tuple(c + s.start for c, s in zip(region.centre_index, box, strict=True)))
    mask = None if region.mask is None else region.mask.placed(box, shape)
    return ReferenceRegion(region.name, region.mean, region.sd, region.volume_ml, centre,
                           region.note, region.site, mask, region.sul_per_value)


def _index(index: tuple[Any, ...]) -> tuple[int, int, int]:
    return int(index[0]), int(index[1]), int(index[2])


def _ball(shape: tuple[int, ...], centre: tuple[int, ...], radius_mm: float,
          spacing_zyx: Sequence[float]) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing_zyx, strict=True))
    return np.asarray(distance <= radius_mm**2)


def _region(name: ReferenceKind, values: np.ndarray, region: np.ndarray,
            spacing_zyx: Sequence[float], centre: tuple[int, int, int], note: str | None,
            site: str) -> ReferenceRegion:
    inside = values[region]
    if inside.size == 0:
        raise ValueError(f"the {name} reference region is empty")
    sd = float(inside.std(ddof=1)) if inside.size > 1 else 0.0
    volume = float(inside.size * np.prod(spacing_zyx) / 1000.0)
    return ReferenceRegion(name, float(inside.mean()), sd, volume, centre, note, site,
                           BoxMask.of(region))
