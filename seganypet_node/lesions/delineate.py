"""One lesion's mask from one click: SegAnyPET prompted at the focus's hottest voxel, cut back to
the focus's A50 region.

The A50 region is the connected region around the hottest voxel above the local background
plus half the contrast (background + 0.5 x (SUVpeak - background)), an adaptive threshold
for PET lesions; on a NEMA-like sphere phantom (4:1, 6-8 mm FWHM, noise) it gives the volume
of 17-37 mm spheres within 20 % (tests/unit/test_lesions.py). It bounds every mask: a click
on a small focus cannot leak into the warm tissue round it. SegAnyPET's mask is used (inside
that bound) when it holds the click, covers most of the focus and is no more than three times
its size; otherwise it is refused, the A50 region is the lesion and the reason is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.imaging.boxes import Box, BoxMask, at_voxel, widened
from seganypet_node.imaging.volume import point_of_voxel
from seganypet_node.lesions.candidates import CONNECTIVITY, Candidate
from seganypet_node.lesions.results import Delineation
from seganypet_node.measure.uptake import sphere_peak
from seganypet_node.model.prediction import Prediction, Prompt
from seganypet_node.model.predictor import SegAnyPETPredictor

CONTRAST_FRACTION = 0.5
BACKGROUND_SHELL_MM = (10.0, 20.0)  # the ring round the focus its background is taken from
GROWTH_MARGIN_MM = 30.0  # how far past the focus above the detection threshold A50 may grow
MAX_LEAK = 3.0  # a network mask more than this many times the focus is a leak
MIN_COVER = 0.5  # ... and one covering less than this share of it missed the focus


@dataclass(frozen=True, eq=False)
class LesionMask:
    """A delineated lesion: its voxels in a box of the image, the click, and how it was made."""

    box: Box
    mask: np.ndarray
    click_index: tuple[int, int, int]
    delineation: Delineation
    note: str | None = None

    def full(self, shape: tuple[int, ...]) -> np.ndarray:
        """The mask on the whole image grid."""
        whole = np.zeros(shape, bool)
        whole[self.box] |= self.mask
        return whole


@dataclass(frozen=True, eq=False)
class Focus:
    """A candidate's A50 region and the local figures it was found with.

    Attributes
    ----------
    candidate : Candidate
        The focus above the detection threshold.
    box : tuple of slice
        The box the region lives in (the candidate's, widened).
    region : numpy.ndarray
        The A50 region inside ``box``.
    background, background_sd : float
        Median and robust SD of a shell 10-20 mm round the candidate.
    peak : float
        Its SUVpeak (1 ml sphere).
    """

    candidate: Candidate
    box: Box
    region: np.ndarray
    background: float
    background_sd: float
    peak: float

    @property
    def volume_voxels(self) -> int:
        return int(self.region.sum())


def a50_region(values: np.ndarray, candidate: Candidate, spacing_zyx: Sequence[float],
               zone: np.ndarray | None = None) -> Focus:
    """The candidate's A50 region (``zone``: voxels it may not enter)."""
    box = widened(candidate.box, values.shape, spacing_zyx, GROWTH_MARGIN_MM)
    local = values[box]
    focus = np.zeros(local.shape, bool)
    focus[tuple(slice(c.start - b.start, c.stop - b.start)
                for c, b in zip(candidate.box, box, strict=True))] = candidate.region
    background, spread = _background(local, focus, spacing_zyx)
    # SUVpeak, not SUVmax: the hottest voxel is raised by noise and would shrink the region.
    top = sphere_peak(local, focus, spacing_zyx)
    level = background + CONTRAST_FRACTION * (top - background)
    above = local >= level
    if zone is not None:
        above &= ~zone[box]
    labels, _ = ndimage.label(above, structure=CONNECTIVITY)
    peak = tuple(p - b.start for p, b in zip(candidate.peak_index, box, strict=True))
    region = labels == labels[peak] if labels[peak] else focus
    return Focus(candidate, box, region, background, spread, top)


def a50_level(values: np.ndarray, mask: BoxMask, spacing_zyx: Sequence[float]) -> float:
    """The A50 level of a lesion's mask: its background (10-20 mm shell) plus half its
    contrast at the SUVpeak, the level the lesion search delineates at."""
    box = mask.around(spacing_zyx, BACKGROUND_SHELL_MM[1], extra_voxels=1)
    local = values[box]
    focus = mask.within(box)
    background, _ = _background(local, focus, spacing_zyx)
    return background + CONTRAST_FRACTION * (sphere_peak(local, focus, spacing_zyx) - background)


def _background(local: np.ndarray, focus: np.ndarray, spacing_zyx: Sequence[float]
                ) -> tuple[float, float]:
    """Median and robust SD of a shell 10-20 mm round the focus (its own uptake left out)."""
    distance = ndimage.distance_transform_edt(~focus, sampling=spacing_zyx)
    inner, outer = BACKGROUND_SHELL_MM
    shell = (distance >= inner) & (distance <= outer)
    if not shell.any():
        shell = ~focus
    if not shell.any():
        return 0.0, 0.0
    ring = local[shell]
    median = float(np.median(ring))
    return median, 1.4826 * float(np.median(np.abs(ring - median)))


def delineate(focus: Focus, predictor: SegAnyPETPredictor | None,
              image: sitk.Image) -> LesionMask:
    """One lesion from one positive click at the focus's hottest voxel.

    Parameters
    ----------
    focus : Focus
        The candidate and its A50 region, which bounds the mask.
    predictor : SegAnyPETPredictor or None
        A predictor whose image is set; None delineates by the A50 region alone.
    image : SimpleITK.Image
        The image's geometry, to turn the click into patient coordinates.
    """
    peak_index = focus.candidate.peak_index
    box, region = focus.box, focus.region
    if predictor is None:
        return LesionMask(box, region, peak_index, Delineation.THRESHOLD,
                          "no network configured for lesions")
    prediction = predictor.predict([Prompt(point_of_voxel(image, peak_index))], tile=False)
    answer = prediction.mask_in(box)
    piece = _piece_at(answer, tuple(p - b.start for p, b in zip(peak_index, box, strict=True)))
    size = float(piece.sum())
    if piece.any() and _touches_edge(piece):  # it runs on outside the box: count all of it
        size = float(_whole_piece_size(prediction, peak_index))
    refused = _refusal(piece, region, size)
    if refused:
        return LesionMask(box, region, peak_index, Delineation.THRESHOLD, refused)
    return LesionMask(box, piece & region, peak_index, Delineation.SEGANYPET)


def _piece_at(mask: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
    """The connected piece of ``mask`` holding ``index`` (empty when the voxel is off)."""
    if not mask[index]:
        return np.zeros_like(mask)
    labels, _ = ndimage.label(mask, structure=CONNECTIVITY)
    return labels == labels[index]


def _touches_edge(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
                or mask[:, :, 0].any() or mask[:, :, -1].any())


def _whole_piece_size(prediction: Prediction, index_zyx: tuple[int, int, int]) -> int:
    """Voxels of the network's piece at the click over the whole image (a leak may run far
    outside the box the lesion is looked at in); labelled in the prediction's own box, which
    the network's crop bounds, not over the whole field of view."""
    local = prediction.local_mask()
    index = tuple(int(i - o) for i, o in zip(index_zyx, prediction.offset, strict=True))
    if any(not 0 <= i < n for i, n in zip(index, local.shape, strict=True)) or not local[index]:
        return 0
    return int(_piece_at(local, index).sum())


def _refusal(piece: np.ndarray, region: np.ndarray, piece_voxels: float) -> str | None:
    """Why SegAnyPET's piece cannot stand as the lesion, or None when it can."""
    if not piece.any():
        return "SegAnyPET's mask did not hold the click"
    focus = float(region.sum())
    if piece_voxels > MAX_LEAK * focus:
        return f"SegAnyPET's mask was {piece_voxels / focus:.1f} x the focus (a leak)"
    cover = float((piece & region).sum()) / focus
    if cover < MIN_COVER:
        return f"SegAnyPET's mask covered {100 * cover:.0f} % of the focus"
    return None


SEARCH_MM = 6.0  # the click's focus peaks this close to it (a reader clicks near the centre)
SEED_FRACTION = 0.7  # the seed focus: voxels above background + 0.7 x contrast


def lesion_at_click(image: sitk.Image, click_lps: Sequence[float],
                    predictor: SegAnyPETPredictor | None = None) -> LesionMask:
    """A reader's one click on a lesion: the focus peaking near the click, delineated as the
    lesion search delineates (SegAnyPET cut back to the A50 region, or the A50 region).

    Parameters
    ----------
    image : SimpleITK.Image
        SUV (or activity) image; a predictor given must have it set.
    click_lps : sequence of float
        The click, patient coordinates (mm).

    Raises
    ------
    ValueError
        The click is outside the image.
    """
    values = sitk.GetArrayViewFromImage(image)
    spacing = image.GetSpacing()[::-1]
    index = image.TransformPhysicalPointToIndex(tuple(float(v) for v in click_lps))[::-1]
    if not all(0 <= i < n for i, n in zip(index, values.shape, strict=True)):
        raise ValueError(f"the click {tuple(click_lps)} is outside the image")
    return delineate(a50_region(values, _seed_at(values, index, spacing), spacing), predictor,
                     image)


def _seed_at(values: np.ndarray, index: Sequence[int], spacing_zyx: Sequence[float]
             ) -> Candidate:
    """The hottest voxel within ``SEARCH_MM`` of ``index`` and the bright core round it."""
    near = widened(at_voxel(index), values.shape, spacing_zyx, SEARCH_MM)
    at = np.unravel_index(int(np.argmax(values[near])), values[near].shape)
    peak = (int(at[0] + near[0].start), int(at[1] + near[1].start), int(at[2] + near[2].start))
    box = widened(at_voxel(peak), values.shape, spacing_zyx, 2 * BACKGROUND_SHELL_MM[1])
    local = values[box]
    point = np.zeros(local.shape, bool)
    point[tuple(p - b.start for p, b in zip(peak, box, strict=True))] = True
    background, _ = _background(local, point, spacing_zyx)
    maximum = float(values[peak])
    core = local >= background + SEED_FRACTION * (maximum - background)
    labels, _ = ndimage.label(core, structure=CONNECTIVITY)
    region = labels == labels[tuple(p - b.start for p, b in zip(peak, box, strict=True))]
    return Candidate(box, region, peak, maximum)
