"""Hot foci that are not lesions: noise, an organ's uptake past its mask, tubes (ureters,
bowel, vessels) and uptake mirrored across the midline (brown fat, muscle).

These are the patterns a reader sets aside before calling a focus a lesion. Each rule keeps
the focus, with its reason, in the search's list of physiological foci, so nothing is dropped
without a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import points_of_voxels
from seganypet_node.lesions.candidates import PHYSIOLOGICAL, SPILL_MM, TOUCH_MM
from seganypet_node.lesions.delineate import Focus
from seganypet_node.lesions.results import PhysiologicalFocus

MIN_CONTRAST_TO_NOISE = 3.0  # (SUVpeak - background) / background robust SD
TUBE_ELONGATION = 3.5  # longest / middle spread of a focus's voxels
TUBE_WIDTH_MM = 6.0  # ... and at most this middle spread (SD, mm): a tube, not a mass
MIRROR_MM = 15.0  # how close a focus and its mirror image must be
MIN_MIRROR_SPAN_MM = 40.0  # the two sides must be this far apart (left and right)
MIRROR_UPTAKE_RATIO = 1.6
BODY_LEVEL = 0.3  # SUV above which a voxel belongs to the body, for the midline


def noise_reason(focus: Focus) -> str | None:
    """Why the focus is noise: its SUVpeak does not stand out from the surrounding scatter."""
    contrast = focus.peak - focus.background
    if contrast < MIN_CONTRAST_TO_NOISE * focus.background_sd:
        return (f"does not stand out from its surroundings (SUVpeak {focus.peak:.2f}, "
                f"background {focus.background:.2f} +- {focus.background_sd:.2f})")
    return None


def organ_spill_reason(focus: Focus, organs: Mapping[str, BoxMask],
                       organ_max: Mapping[str, float],
                       spacing_zyx: Sequence[float]) -> str | None:
    """Why the focus is a hot organ's own uptake past its mask: it peaks at the organ's edge
    and is no hotter than the organ."""
    peak = np.array(focus.candidate.peak_index)
    reach = SPILL_MM + TOUCH_MM
    pad = np.ceil(reach / np.asarray(spacing_zyx)).astype(int) + 1
    for name in PHYSIOLOGICAL:
        if name not in organs:
            continue
        organ = organs[name]
        window = tuple(slice(max(0, p - d), min(n, p + d + 1))
                       for p, d, n in zip(peak, pad, organ.shape, strict=True))
        near = np.argwhere(organ.within(window))
        if not len(near):
            continue
        offset = np.array([w.start for w in window])
        gaps = np.linalg.norm((near + offset - peak) * np.asarray(spacing_zyx), axis=1)
        if gaps.min() > reach:
            continue
        if focus.candidate.maximum <= organ_max[name]:
            return f"{name.replace('_', ' ')} uptake beyond its mask (peaks at its edge)"
    return None


def tube_reason(focus: Focus, spacing_zyx: Sequence[float]) -> str | None:
    """Why the focus is a tube (ureter, bowel loop, vessel): long and thin."""
    points = np.argwhere(focus.region) * np.asarray(spacing_zyx)
    if len(points) < 10:
        return None
    spread = np.sqrt(np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1].clip(0))
    if spread[1] == 0 or spread[0] / spread[1] < TUBE_ELONGATION or spread[1] > TUBE_WIDTH_MM:
        return None
    return (f"tube-shaped ({2 * spread[0]:.0f} x {2 * spread[1]:.0f} mm): ureter, bowel or "
            f"vessel")


def mirrored(foci: Sequence[Focus], values: np.ndarray, image: sitk.Image) -> set[int]:
    """Indices of foci that have a match mirrored across the body's midline (same level and
    depth, similar uptake): symmetric brown fat or muscle, not lesions."""
    centres = [_centre(focus, image) for focus in foci]
    midline = [_midline(values, image, focus.candidate.peak_index[0]) for focus in foci]
    paired: set[int] = set()
    for i, (a, mid) in enumerate(zip(centres, midline, strict=True)):
        for j in range(i + 1, len(foci)):
            b = centres[j]
            ratio = foci[i].candidate.maximum / max(foci[j].candidate.maximum, 1e-6)
            if (abs(a[2] - b[2]) <= MIRROR_MM and abs(a[1] - b[1]) <= MIRROR_MM
                    and abs((a[0] + b[0]) / 2 - mid) <= MIRROR_MM
                    and abs(a[0] - b[0]) >= MIN_MIRROR_SPAN_MM
                    and 1 / MIRROR_UPTAKE_RATIO <= ratio <= MIRROR_UPTAKE_RATIO):
                paired |= {i, j}
    return paired


def physiological_focus(focus: Focus, image: sitk.Image, reason: str) -> PhysiologicalFocus:
    """The record of a focus set aside."""
    centre = _centre(focus, image)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    return PhysiologicalFocus((float(centre[0]), float(centre[1]), float(centre[2])),
                              focus.candidate.maximum, focus.volume_voxels * voxel_ml, reason)


def _centre(focus: Focus, image: sitk.Image) -> np.ndarray:
    offset = np.array([b.start for b in focus.box])
    return np.asarray(points_of_voxels(image, np.argwhere(focus.region) + offset).mean(axis=0))


def _midline(values: np.ndarray, image: sitk.Image, z: int) -> float:
    """Patient x (mm) of the body's centre on slice ``z``."""
    body = np.argwhere(values[z] > BODY_LEVEL)
    if not len(body):
        return 0.0
    mean = body.mean(axis=0)
    index = np.array([[z, mean[0], mean[1]]])
    return float(points_of_voxels(image, index)[0, 0])
