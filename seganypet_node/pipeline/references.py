"""The PERCIST references of a run from its organ masks, and the values they are measured on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.measure.reference import (
    Orientation,
    ReferenceRegion,
    blood_pool_reference,
    liver_reference,
)
from seganypet_node.pipeline.results import OrganResult


def reference_regions(volume: VolumeInput, suv: sitk.Image, organs: Sequence[OrganResult],
                      lesions: np.ndarray | None = None) -> tuple[ReferenceRegion, ...]:
    """Liver and blood-pool references from the liver and aorta masks, when found, away from
    ``lesions``; in the measured unit, with SUL where lean body mass is known."""
    measured = measured_values(volume, suv)
    spacing = suv.GetSpacing()[::-1]
    orientation = Orientation.of_direction(suv.GetDirection())
    masks = {o.organ: o.mask for o in organs if o.mask is not None}
    regions = []
    if "liver" in masks:
        regions.append(liver_region(measured, masks["liver"], suv, lesions))
    aorta, note = _aorta_for_reference(organs)
    if aorta is not None:
        pool = blood_pool_reference(
            measured, aorta, spacing, orientation,
            _top_slice(masks.get("liver"), orientation), _centre_slice(masks.get("heart")),
            lesions)
        if note:
            pool = dataclasses.replace(pool, note="; ".join(filter(None, [note, pool.note])))
        regions.append(pool)
    sul = volume.sul_per_suv
    return tuple(dataclasses.replace(r, sul_per_value=sul) for r in regions)


def liver_region(values: np.ndarray, liver: BoxMask, image: sitk.Image,
                 lesions: np.ndarray | None = None) -> ReferenceRegion:
    """PERCIST's liver sphere in ``values`` on ``image``'s grid, its side from the image's
    direction, away from ``lesions``."""
    right_is_low_x = Orientation.of_direction(image.GetDirection()).right_is_low_x
    return liver_reference(values, liver, image.GetSpacing()[::-1], right_is_low_x, lesions)


def _aorta_for_reference(organs: Sequence[OrganResult]) -> tuple[BoxMask | None, str | None]:
    """The aorta mask the blood pool is placed in: the reported one, else the one a
    plausibility rule withheld (its thoracic part is usually right when its ends are not),
    with a note saying so."""
    aorta = next((o for o in organs if o.organ == "aorta"), None)
    if aorta is None:
        return None, None
    if aorta.mask is not None:
        return aorta.mask, None
    if aorta.withheld is not None:
        return aorta.withheld, (f"placed in the aorta mask withheld from the report "
                                f"({aorta.reason})")
    return None, None


def _top_slice(mask: BoxMask | None, orientation: Orientation) -> int | None:
    """The organ's most superior slice index."""
    if mask is None:
        return None
    levels = mask.levels()
    return int(levels.max() if orientation.superior_is_high_z else levels.min())


def _centre_slice(mask: BoxMask | None) -> int | None:
    if mask is None:
        return None
    return round(float(np.median(mask.levels())))


def measured_values(volume: VolumeInput, suv: sitk.Image) -> np.ndarray:
    """The array measurements are taken on: SUVbw when the header allows it, else the values."""
    return sitk.GetArrayViewFromImage(suv if volume.suvbw is not None else volume.values)
