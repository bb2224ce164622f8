"""Lesion candidates: connected foci above the detection threshold, outside physiological uptake.

The threshold is PERCIST's (1.5 x liver mean + 2 SD of the liver reference; the same in SUL and
SUVbw, since SUL only rescales SUVbw), or a stated fallback when the liver reference cannot be
had. Brain, myocardium, kidneys and bladder take up FDG normally: their masks, widened by the
scanner's blur, are left out, and so is a focus whose hottest voxel touches them (what is left
of an organ the mask missed rises towards the organ; a tumour beside it peaks inside itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from seganypet_node.imaging.boxes import Box, BoxMask, mask_box
from seganypet_node.lesions.results import DetectionThreshold, ThresholdRule
from seganypet_node.measure.reference import ReferenceRegion

PHYSIOLOGICAL = ("brain", "heart", "kidney_left", "kidney_right", "urinary_bladder")
SPILL_MM = 8.0  # how far a hot organ's uptake spills out at 6-8 mm FWHM
TOUCH_MM = 6.0  # a focus peaking this close to a hot organ is that organ's uptake
MIN_CANDIDATE_VOXELS = 2  # a single voxel above the threshold is noise
CONNECTIVITY = ndimage.generate_binary_structure(3, 3)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One focus above the threshold: its box in the image, its voxels there, its peak.

    Attributes
    ----------
    box : tuple of slice
        Bounding box in the image's (z, y, x) indices.
    region : numpy.ndarray
        Boolean voxels of the focus inside ``box``.
    peak_index : tuple of int
        (z, y, x) image index of its hottest voxel.
    maximum : float
        The value there.
    """

    box: Box
    region: np.ndarray
    peak_index: tuple[int, int, int]
    maximum: float


def detection_threshold(liver: ReferenceRegion | None, fallback: float,
                        liver_unusable: str | None = None) -> DetectionThreshold:
    """PERCIST's threshold from the liver reference, or ``fallback`` with the reason."""
    if liver is not None and liver_unusable is None:
        value = 1.5 * liver.mean + 2.0 * liver.sd
        return DetectionThreshold(value, ThresholdRule.PERCIST)
    why = liver_unusable or "no liver reference (liver not found)"
    return DetectionThreshold(fallback, ThresholdRule.FALLBACK,
                              f"lesion threshold fixed at {fallback:g}: {why}")


def physiological_zone(organs: Mapping[str, BoxMask], spacing_zyx: Sequence[float],
                       margin_mm: float = SPILL_MM) -> np.ndarray:
    """Voxels within ``margin_mm`` of a found physiological-uptake organ (boolean)."""
    shape = next(iter(organs.values())).shape if organs else (0, 0, 0)
    zone = np.zeros(shape, bool)
    for name in PHYSIOLOGICAL:
        if name in organs:
            _widen_into(zone, organs[name], spacing_zyx, margin_mm)
    return zone


def _widen_into(zone: np.ndarray, mask: BoxMask, spacing_zyx: Sequence[float],
                margin_mm: float) -> None:
    """Set the voxels within ``margin_mm`` of ``mask`` in ``zone``, working in its box."""
    if not mask.any():
        return
    box = mask.around(spacing_zyx, margin_mm, extra_voxels=1)
    distance = ndimage.distance_transform_edt(~mask.within(box), sampling=spacing_zyx)
    zone[box] |= distance <= margin_mm


def _labelled(hot: np.ndarray) -> np.ndarray:
    """Connected foci, numbered in int16 where they fit (half the memory of scipy's int32:
    230 MB at 2 mm), else in int32."""
    try:
        return np.asarray(ndimage.label(hot, structure=CONNECTIVITY, output=np.int16)[0])
    except RuntimeError:  # more foci than int16 numbers
        return np.asarray(ndimage.label(hot, structure=CONNECTIVITY)[0])


def find_candidates(values: np.ndarray, threshold: DetectionThreshold,
                    organs: Mapping[str, BoxMask], spacing_zyx: Sequence[float],
                    zone: np.ndarray | None = None) -> list[Candidate]:
    """Foci above the threshold outside the physiological-uptake organs, hottest first.

    ``zone`` is :func:`physiological_zone` of ``organs`` when the caller already has it.
    """
    hot = values >= threshold.value
    if zone is None and any(name in organs for name in PHYSIOLOGICAL):
        zone = physiological_zone(organs, spacing_zyx)
    if zone is not None:
        np.greater(hot, zone, out=hot)  # hot and not zone, without a full-grid temporary
    around = mask_box(hot)
    if around is None:
        return []
    # Foci are numbered inside the box of the hot voxels only: the labels cost that box.
    labels = _labelled(hot[around])
    del hot
    origin = [s.start for s in around]
    candidates = []
    for number, local_box in enumerate(ndimage.find_objects(labels), start=1):
        if local_box is None:
            continue
        region = labels[local_box] == number
        if region.sum() < MIN_CANDIDATE_VOXELS:
            continue
        box = tuple(slice(s.start + o, s.stop + o) for s, o in zip(local_box, origin,
                                                                 strict=True))
        local = np.where(region, values[box], -np.inf)
        at = np.unravel_index(int(np.argmax(local)), region.shape)
        peak = (int(at[0] + box[0].start), int(at[1] + box[1].start),
                int(at[2] + box[2].start))
        candidates.append(Candidate((box[0], box[1], box[2]), region, peak, float(local[at])))
    return sorted(candidates, key=lambda c: -c.maximum)
