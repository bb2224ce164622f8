"""The lesion search of one study: candidates hottest first, each delineated from one click,
foci that merge made one lesion, the small ones and those past the cap counted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.lesions.candidates import (
    PHYSIOLOGICAL,
    find_candidates,
    physiological_zone,
)
from seganypet_node.lesions.delineate import Focus, LesionMask, a50_region, delineate
from seganypet_node.lesions.physiology import (
    mirrored,
    noise_reason,
    organ_spill_reason,
    physiological_focus,
    tube_reason,
)
from seganypet_node.lesions.results import DetectionThreshold, PhysiologicalFocus
from seganypet_node.model.predictor import SegAnyPETPredictor


@dataclass(frozen=True)
class LesionOptions:
    """How lesions are looked for ([lesions] in ``node.toml``).

    Parameters
    ----------
    enabled : bool
        Look for lesions at all.
    fallback_threshold_suv : float
        Detection threshold when no liver reference can be had.
    min_volume_ml : float
        Smaller lesions are counted, not reported.
    max_count : int
        At most this many lesions are delineated (hottest first); the rest are counted.
    """

    enabled: bool = True
    fallback_threshold_suv: float = 4.0
    min_volume_ml: float = 0.5
    max_count: int = 40


@dataclass(frozen=True, eq=False)
class Delineated:
    """The lesion masks of a study and what the search left out."""

    masks: tuple[LesionMask, ...]
    dropped_small: int
    capped: int
    physiological: tuple[PhysiologicalFocus, ...] = ()


def search_lesions(values: np.ndarray, threshold: DetectionThreshold,
                   organs: Mapping[str, BoxMask], spacing_zyx: Sequence[float],
                   predictor: SegAnyPETPredictor | None, image: sitk.Image,
                   options: LesionOptions) -> Delineated:
    """Every lesion's mask, hottest first (``organs``: the found organs' masks)."""
    foci, physiological = _foci(values, threshold, organs, spacing_zyx, image)
    taken = np.zeros(values.shape, bool)
    masks: list[LesionMask] = []
    capped = 0
    for focus in foci:
        if taken[focus.candidate.peak_index]:
            continue  # part of a lesion already delineated
        if len(masks) >= options.max_count:
            capped += 1
            continue
        lesion = delineate(focus, predictor, image)
        if not lesion.mask.any():
            continue
        masks = _merged(masks, lesion, taken)
        taken[lesion.box] |= lesion.mask
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    kept = tuple(m for m in masks if m.mask.sum() * voxel_ml >= options.min_volume_ml)
    return Delineated(kept, len(masks) - len(kept), capped, tuple(physiological))


def _foci(values: np.ndarray, threshold: DetectionThreshold, organs: Mapping[str, BoxMask],
          spacing_zyx: Sequence[float], image: sitk.Image
          ) -> tuple[list[Focus], list[PhysiologicalFocus]]:
    """The candidates' A50 regions, split into possible lesions and physiological foci."""
    zone = physiological_zone(organs, spacing_zyx) if organs else None
    organ_max = {name: float(organs[name].values_in(values).max()) for name in PHYSIOLOGICAL
                 if name in organs}
    covered = np.zeros(values.shape, bool)
    foci: list[Focus] = []
    physiological: list[PhysiologicalFocus] = []
    for candidate in find_candidates(values, threshold, organs, spacing_zyx, zone):
        if covered[candidate.peak_index]:
            continue  # inside a hotter focus's region
        focus = a50_region(values, candidate, spacing_zyx, zone)
        covered[focus.box] |= focus.region
        reason = (noise_reason(focus) or organ_spill_reason(focus, organs, organ_max,
                                                              spacing_zyx)
                  or tube_reason(focus, spacing_zyx))
        if reason:
            physiological.append(physiological_focus(focus, image, reason))
        else:
            foci.append(focus)
    paired = mirrored(foci, values, image)
    physiological += [physiological_focus(foci[i], image, "mirrored across the midline "
                                          "(symmetric brown fat or muscle)") for i in paired]
    return [f for i, f in enumerate(foci) if i not in paired], physiological


def _merged(masks: list[LesionMask], new: LesionMask, taken: np.ndarray) -> list[LesionMask]:
    """``masks`` with ``new`` added, or joined to the lesions it overlaps (one lesion)."""
    if not (taken[new.box] & new.mask).any():
        return [*masks, new]
    touching = [m for m in masks if _overlap(m, new)]
    rest = [m for m in masks if not any(m is t for t in touching)]
    joined = new
    for other in touching:
        joined = _union(other, joined)
    return [*rest, joined]


def _overlap(a: LesionMask, b: LesionMask) -> bool:
    box = _intersection(a.box, b.box)
    if box is None:
        return False
    return bool((_in_box(a, box) & _in_box(b, box)).any())


def _union(first: LesionMask, second: LesionMask) -> LesionMask:
    """One lesion from two: the first's click and rule, both masks."""
    box = tuple(slice(min(a.start, b.start), max(a.stop, b.stop))
                for a, b in zip(first.box, second.box, strict=True))
    mask = _in_box(first, box) | _in_box(second, box)
    note = "joined with a neighbouring focus"
    return LesionMask((box[0], box[1], box[2]), mask, first.click_index, first.delineation,
                      f"{first.note}; {note}" if first.note else note)


def _intersection(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...] | None:
    box = tuple(slice(max(x.start, y.start), min(x.stop, y.stop)) for x, y in zip(a, b,
                                                                                  strict=True))
    return None if any(s.start >= s.stop for s in box) else box


def _in_box(lesion: LesionMask, box: tuple[slice, ...]) -> np.ndarray:
    """``lesion``'s mask on ``box`` (which may be larger or smaller than its own)."""
    out = np.zeros(tuple(s.stop - s.start for s in box), bool)
    inner = _intersection(lesion.box, box)
    if inner is None:
        return out
    source = tuple(slice(i.start - o.start, i.stop - o.start)
                   for i, o in zip(inner, lesion.box, strict=True))
    target = tuple(slice(i.start - o.start, i.stop - o.start)
                   for i, o in zip(inner, box, strict=True))
    out[target] = lesion.mask[source]
    return out
