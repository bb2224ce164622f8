"""The lesion stage of a run, after the organs: the detection threshold from a first liver
reference, the lesion search, organ figures and references without the lesions, lesion figures
against those references."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.lesions.candidates import PHYSIOLOGICAL, detection_threshold
from seganypet_node.lesions.measure import measured_lesions, tumour_burden
from seganypet_node.lesions.results import LesionSearch
from seganypet_node.lesions.search import LesionOptions, search_lesions
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.measure.uptake import LESION_HALO_MM, uptake_without
from seganypet_node.model.predictor import SegAnyPETPredictor
from seganypet_node.pipeline.references import liver_region, measured_values, reference_regions
from seganypet_node.pipeline.results import OrganResult


def lesion_stage(volume: VolumeInput, suv: sitk.Image, organs: Sequence[OrganResult],
                 predictor: SegAnyPETPredictor | None, options: LesionOptions
                 ) -> tuple[list[OrganResult], tuple[ReferenceRegion, ...], LesionSearch]:
    """Lesions of the study, the organs' figures without them, and the references.

    ``suv`` is the SUV image (or the values scaled to typical tissue when there is no SUV):
    lesions are detected on it and measured on the measured values. ``predictor`` must have
    ``suv`` set as its image (None: lesions delineated by their A50 region alone).
    """
    start = time.perf_counter()
    spacing = suv.GetSpacing()[::-1]
    detect_on = sitk.GetArrayViewFromImage(suv)
    masks = {o.organ: o.mask for o in organs if o.mask is not None}
    threshold = detection_threshold(_first_liver(detect_on, masks, suv),
                                    options.fallback_threshold_suv)
    if volume.suvbw is None:
        threshold = replace(threshold, note="; ".join(filter(None, [
            threshold.note, "no SUV: lesions detected on the values scaled to typical tissue"])))
    found = search_lesions(detect_on, threshold, masks, spacing, predictor, suv, options)
    union = np.zeros(detect_on.shape, bool)
    for lesion in found.masks:
        union[lesion.box] |= lesion.mask
    measured = measured_values(volume, suv)
    organs = [without_lesions(o, union, measured, spacing, volume) for o in organs]
    references = reference_regions(volume, suv, organs, union)
    lesions = measured_lesions(found.masks, measured, suv, volume.measured_unit,
                               volume.sul_per_suv, masks, references)
    organs = [replace(o, lesions=tuple(x.label for x in lesions if x.site == o.organ))
              for o in organs]
    search = LesionSearch(
        True, lesions, threshold,
        excluded=tuple(name for name in PHYSIOLOGICAL if name in masks),
        not_excluded=tuple(name for name in PHYSIOLOGICAL if name not in masks),
        dropped_small=found.dropped_small, capped=found.capped,
        burden=tumour_burden(lesions), seconds=time.perf_counter() - start,
        physiological=found.physiological)
    return organs, references, search


def _first_liver(values: np.ndarray, masks: dict[str, BoxMask],
                 image: sitk.Image) -> ReferenceRegion | None:
    """The liver reference before lesions are known (hot voxels already left out)."""
    if "liver" not in masks:
        return None
    return liver_region(values, masks["liver"], image)


def without_lesions(organ: OrganResult, lesions: np.ndarray, measured: np.ndarray,
                     spacing: Sequence[float], volume: VolumeInput) -> OrganResult:
    """``organ`` with figures that leave its lesions (and their blur halo) out."""
    if organ.mask is None or organ.stats is None or not _near(organ.mask, lesions, spacing):
        return organ
    stats = uptake_without(measured, organ.mask, lesions, spacing, volume.measured_unit)
    return replace(organ, stats=stats)


def _near(mask: BoxMask, lesions: np.ndarray, spacing: Sequence[float]) -> bool:
    """Whether any lesion voxel lies within the organ's box widened by the halo."""
    return bool(lesions[mask.around(spacing, LESION_HALO_MM, extra_voxels=1)].any())

