"""Figures of a study from masks a reader corrected: organ uptake without the lesions, the
PERCIST references, each lesion against them, the tumour burden, as the automatic run
measures them (:mod:`pipeline.lesion_stage`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.lesions.delineate import LesionMask
from seganypet_node.lesions.measure import measured_lesions, tumour_burden
from seganypet_node.measure.uptake import uptake_in_box
from seganypet_node.pipeline.lesion_stage import without_lesions
from seganypet_node.pipeline.references import measured_values, reference_regions
from seganypet_node.pipeline.results import OrganResult, PipelineResult


@dataclass(frozen=True, eq=False)
class KeptLesion:
    """A lesion as the reader left it: its mask and the tracking UID it already had."""

    mask: LesionMask
    tracking_uid: str | None = None


def remeasured(base: PipelineResult, volume: VolumeInput, suv: sitk.Image,
               organs: Sequence[OrganResult], lesions: Sequence[KeptLesion]) -> PipelineResult:
    """``base`` with ``organs`` (their masks as corrected; masks None with the reason for
    those not reported) and ``lesions`` measured again on ``volume``.

    ``suv`` is the image the run segmented (:func:`pipeline.run.suv_like`).
    """
    measured = measured_values(volume, suv)
    spacing = suv.GetSpacing()[::-1]
    unit = volume.measured_unit
    union = np.zeros(measured.shape, bool)
    for kept in lesions:
        union[kept.mask.box] |= kept.mask.mask
    fresh = [dataclasses.replace(o, stats=uptake_in_box(measured, o.mask, spacing, unit),
                                 lesions=()) if o.mask is not None
             else dataclasses.replace(o, stats=None, lesions=()) for o in organs]
    fresh = [without_lesions(o, union, measured, spacing, volume) for o in fresh]
    references = reference_regions(volume, suv, fresh, union)
    masks = {o.organ: o.mask for o in fresh if o.mask is not None}
    figures = measured_lesions([k.mask for k in lesions], measured, suv, unit,
                               volume.sul_per_suv, masks, references,
                               [k.tracking_uid for k in lesions])
    fresh = [dataclasses.replace(o, lesions=tuple(x.label for x in figures if x.site == o.organ))
             for o in fresh]
    search = dataclasses.replace(base.lesions, lesions=figures, burden=tumour_burden(figures))
    if not search.assessed and figures:
        search = dataclasses.replace(search, assessed=True, reason=None)
    return dataclasses.replace(base, organs=tuple(fresh), references=references, lesions=search)
