"""Atlas landmarks in a patient (:mod:`subjects`) checked against the image before use.

A positive point must lie in the field of view and in the body, and the uptake there must be
plausible for its organ; organs whose uptake peaks inside them (brain, kidneys, bladder, and
the blood pool of the thin aorta) have their points moved to the hottest voxel within a few
millimetres first, unless that voxel is the peak of a focus smaller than the organ can be (a
lesion beside a kidney, say: the point then goes to the hottest voxel outside the focus, or
stays). An organ left without
a positive point is reported as not found, with the reasons, and never segmented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.atlas.assets import OrganLandmarks, Point
from seganypet_node.model.prediction import Prompt

BODY_SUV = 0.1  # below this SUV a point is outside the body
# A landmark this close beyond the edge of the field of view may belong to an organ the field
# cuts (the brain of a skull-base-to-thigh scan): it is moved to the edge and checked there.
EDGE_REACH_MM = 60.0


# The focus of a peak: the connected voxels above this fraction of it, within FOCUS_REACH_MM.
FOCUS_LEVEL = 0.5
FOCUS_REACH_MM = 40.0
MAX_FOCI = 4  # foci too small to be the organ that are skipped before giving up


@dataclass(frozen=True)
class Uptake:
    """Plausible SUVbw at a landmark, how far to look for the organ's hottest voxel, and the
    smallest focus (ml) that hottest voxel may be the peak of."""

    low: float
    high: float
    snap_mm: float = 0.0
    min_focus_ml: float = 0.0


# Wide FDG ranges: they reject a point that landed in air, urine beside a kidney or a lesion,
# not a patient with unusual physiology.
UPTAKE: Mapping[str, Uptake] = {
    # Smallest foci: the hot cortex of a brain cut by the field, a renal pelvis, an almost
    # empty bladder; lymph nodes and most metastases are smaller.
    "brain": Uptake(1.5, 40.0, 12.0, 20.0),
    "heart": Uptake(0.5, 40.0),
    "liver": Uptake(0.7, 8.0),
    "spleen": Uptake(0.6, 8.0),
    "kidney_left": Uptake(1.0, 60.0, 10.0, 4.0),
    "kidney_right": Uptake(1.0, 60.0, 10.0, 4.0),
    "urinary_bladder": Uptake(1.5, 200.0, 15.0, 8.0),
    "lung_left": Uptake(0.02, 2.0),
    "lung_right": Uptake(0.02, 2.0),
    # A tube of 2-3 cm: a landmark a few mm off lands in lung, fat or muscle; blood pool is
    # the hottest thing within 8 mm (on the held-out cases: aorta Dice 0.17 -> 0.28; 12 mm
    # reaches marrow and liver and does worse).
    "aorta": Uptake(0.4, 6.0, 8.0),
}


@dataclass(frozen=True)
class OrganPrompts:
    """The prompts one organ gets, or why it gets none.

    Parameters
    ----------
    organ : str
        Catalogue name.
    prompts : tuple of Prompt
        Checked positives, then negatives (patient LPS mm).
    rejected : tuple of str
        One line per landmark that was dropped, with the reason.
    """

    organ: str
    prompts: tuple[Prompt, ...]
    rejected: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return any(p.positive for p in self.prompts)

    @property
    def reason(self) -> str | None:
        """Why the organ cannot be segmented (None when it can)."""
        if self.found:
            return None
        return "no usable landmark: " + "; ".join(self.rejected)


def organ_prompts(organ: str, landmarks: OrganLandmarks, suv: sitk.Image) -> OrganPrompts:
    """Check an organ's landmarks (in patient space) in ``suv``."""
    uptake = UPTAKE[organ]
    positives, rejected = [], []
    for number, point in enumerate(landmarks.positives, start=1):
        checked = check_positive(point, uptake, suv)
        if isinstance(checked, str):
            rejected.append(f"point {number} {checked}")
        else:
            positives.append(Prompt(checked, True))
    negatives = [Prompt(p, False) for p in landmarks.negatives if _index(suv, p) is not None]
    return OrganPrompts(organ, tuple(positives + negatives) if positives else (),
                        tuple(rejected))


def checked_prompts(landmarks: Mapping[str, OrganLandmarks], organs: Sequence[str],
                    suv: sitk.Image) -> dict[str, OrganPrompts]:
    """:func:`organ_prompts` for each requested organ (missing from the atlas: not found);
    ``landmarks`` are in patient space (:func:`subjects.patient_landmarks`)."""
    result = {}
    for organ in organs:
        if organ not in landmarks:
            result[organ] = OrganPrompts(organ, (), ("the atlas has no landmark for it",))
        else:
            result[organ] = organ_prompts(organ, landmarks[organ], suv)
    return result


def check_positive(point: Point, uptake: Uptake, suv: sitk.Image) -> Point | str:
    """The checked (possibly snapped) point, or why it is rejected."""
    index = _index(suv, point)
    if index is None:
        point = _pulled_inside(suv, point)
        index = _index(suv, point)
        if index is None:
            return "is outside the field of view"
    if uptake.snap_mm:
        point = _organ_peak_near(suv, point, uptake)
        index = _index(suv, point)
        assert index is not None
    value = _local_mean(suv, index)
    if value < BODY_SUV:
        return f"is outside the body (SUV {value:.2f})"
    if not uptake.low <= value <= uptake.high:
        return (f"has implausible uptake for the organ (SUV {value:.2f}, expected "
                f"{uptake.low}-{uptake.high})")
    return point


def _pulled_inside(image: sitk.Image, point: Point) -> Point:
    """The nearest point two voxels inside the field, if within reach; else ``point``."""
    continuous = np.array(image.TransformPhysicalPointToContinuousIndex(point))
    size = np.array(image.GetSize())
    inside = np.clip(continuous, 2, size - 3)
    offset_mm = float(np.linalg.norm((continuous - inside) * np.array(image.GetSpacing())))
    if offset_mm > EDGE_REACH_MM:
        return point
    x, y, z = image.TransformContinuousIndexToPhysicalPoint(inside.tolist())
    return (float(x), float(y), float(z))


def _index(image: sitk.Image, point: Point) -> tuple[int, int, int] | None:
    continuous = image.TransformPhysicalPointToContinuousIndex(point)
    index = tuple(round(c) for c in continuous)
    if any(not 0 <= i < n for i, n in zip(index, image.GetSize(), strict=True)):
        return None
    return index


def _window(image: sitk.Image, index: tuple[int, int, int], radius_mm: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Values around ``index`` ([z, y, x] block) and the block's low corner (x, y, z)."""
    radius = np.maximum(1, np.round(radius_mm / np.array(image.GetSpacing()))).astype(int)
    low = np.maximum(np.array(index) - radius, 0)
    high = np.minimum(np.array(index) + radius + 1, np.array(image.GetSize()))
    block = sitk.GetArrayViewFromImage(image)[low[2]:high[2], low[1]:high[1], low[0]:high[0]]
    return np.asarray(block), low


def _organ_peak_near(image: sitk.Image, point: Point, uptake: Uptake) -> Point:
    """The hottest voxel within ``snap_mm`` that peaks a focus of ``min_focus_ml`` or more
    (else ``point``)."""
    index = _index(image, point)
    assert index is not None
    block, low = _window(image, index, uptake.snap_mm)
    values = block.astype(np.float64)
    for _ in range(MAX_FOCI):
        z, y, x = np.unravel_index(int(np.argmax(values)), values.shape)
        if not np.isfinite(values[z, y, x]):
            break
        peak = (int(low[0] + x), int(low[1] + y), int(low[2] + z))
        focus, focus_low = _focus(image, peak)
        if uptake.min_focus_ml <= 0 or _volume_ml(image, focus) >= uptake.min_focus_ml:
            px, py, pz = image.TransformIndexToPhysicalPoint(peak)
            return (float(px), float(py), float(pz))
        _exclude(values, low, focus, focus_low)
    return point


def _focus(image: sitk.Image, peak: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The connected voxels above FOCUS_LEVEL of the peak's value ([z, y, x] mask) and the
    mask's low corner (x, y, z)."""
    block, low = _window(image, peak, FOCUS_REACH_MM)
    local = np.array(peak) - low
    hot = block >= FOCUS_LEVEL * block[local[2], local[1], local[0]]
    parts, _ = ndimage.label(hot)
    return parts == parts[local[2], local[1], local[0]], low


def _volume_ml(image: sitk.Image, mask: np.ndarray) -> float:
    return float(mask.sum()) * float(np.prod(image.GetSpacing())) / 1000.0


def _exclude(values: np.ndarray, low: np.ndarray, focus: np.ndarray,
             focus_low: np.ndarray) -> None:
    """Set the voxels of ``focus`` that fall in the ``values`` block to -inf."""
    start = focus_low - low  # (x, y, z) of the focus block in the values block
    zs, ys, xs = np.nonzero(focus)
    zs, ys, xs = zs + start[2], ys + start[1], xs + start[0]
    inside = ((zs >= 0) & (zs < values.shape[0]) & (ys >= 0) & (ys < values.shape[1])
              & (xs >= 0) & (xs < values.shape[2]))
    values[zs[inside], ys[inside], xs[inside]] = -np.inf


def _local_mean(image: sitk.Image, index: tuple[int, int, int]) -> float:
    block, _ = _window(image, index, 1.0)  # the voxel and its 26 neighbours
    return float(block.mean())
