"""A reader's corrective click on a finished mask: SegAnyPET's click step on a mask it need
not have made itself (an organ of the automatic run, a lesion, a mask corrected before).

The crop is an earlier correction crop of the same mask that holds the click well inside, else
one centred on the click; the engine caches its embedding, so further clicks there cost one
decoder pass. The mask prompt is that crop's previous logits (the authors' iterative loop), or
for a new crop the current mask as logits. Only the change connected to the click, and within
reach of it (:func:`reach_mm`), is applied: a negative click removes the excess round it and
never adds, a positive click adds and never removes, and the rest of the mask is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from scipy import ndimage

from seganypet_node.imaging.boxes import Box, BoxMask
from seganypet_node.imaging.volume import points_of_voxels
from seganypet_node.model.crop import CropGrid, array_to_crop, paste_region
from seganypet_node.model.engine import upsample_logits
from seganypet_node.model.prediction import OUTSIDE_LOGIT, Prompt
from seganypet_node.model.predictor import PRIOR_LIMIT, SegAnyPETPredictor

INSIDE_MARGIN = 0.12  # share of a crop's extent a click must lie inside an earlier crop
NEAR_MM = 8.0  # a change this close to the click is the one it asked for
CONNECTED = np.ones((3, 3, 3), bool)
# A click changes the mask no further than this from it: given a click, the network redraws
# the whole finding in its own way, and far from the click that is not what the reader asked
# for (measured on a phantom: one negative click took 1.2 l of true lung with 0.3 l of
# excess; with the limit no organ of that study lost Dice to it). A small finding's reach is
# twice its own radius, at least MIN_REACH_MM: a positive click at a lesion's edge must not
# pour the organ round it into the lesion.
MAX_REACH_MM = 25.0
MIN_REACH_MM = 8.0


@dataclass(frozen=True, eq=False)
class ClickCrop:
    """A crop a mask was corrected on: its clicks so far and the network's last logits."""

    grid: CropGrid
    clicks: tuple[Prompt, ...]
    low_res: torch.Tensor  # (1, 1, L, L, L)


@dataclass(frozen=True, eq=False)
class Corrected:
    """A mask after one click, the crops to continue from, and what the click changed."""

    mask: BoxMask
    crops: tuple[ClickCrop, ...]
    changed_voxels: int


def corrected_mask(predictor: SegAnyPETPredictor, mask: BoxMask, click: Prompt,
                   crops: Sequence[ClickCrop] = (), embedded: Sequence[CropGrid] = (),
                   floor: float | None = None) -> Corrected:
    """``mask`` (on the predictor's image grid) after one corrective ``click``.

    Parameters
    ----------
    predictor : SegAnyPETPredictor
        With the study's image set.
    mask : BoxMask
        The mask as it is now.
    click : Prompt
        Positive: this belongs to the finding; negative: it does not.
    crops : sequence of ClickCrop
        The crops earlier clicks on this mask used (from the last :class:`Corrected`).
    embedded : sequence of CropGrid
        Crops whose embeddings were computed ahead; a click none of ``crops`` holds uses
        the nearest of these that holds it, before a new crop centred on it.
    floor : float or None
        A positive click adds no voxel below this value (a lesion grows into hot voxels,
        not into the organ round it).

    Raises
    ------
    ValueError
        The click is outside the image.
    """
    image = predictor.image
    at = _voxel(image, click.point)
    held = [c for c in crops if _holds(c.grid, click)]
    if held:
        earlier = min(held, key=lambda c: _distance(c.grid, click))
        grid, clicks, prior = earlier.grid, (*earlier.clicks, click), earlier.low_res
    else:
        earlier = None
        ready = [g for g in embedded if _holds(g, click)]
        grid = (min(ready, key=lambda g: _distance(g, click)) if ready
                else predictor.crop_at(click.point))
        clicks = (click,) if click.positive else (*_anchor(mask, image, grid, at), click)
        prior = _mask_prior(mask, image, grid, predictor.engine.config.low_res_size)
    result = predictor.decode_crop(grid, clicks, prior)
    kept = (*(c for c in crops if c is not earlier), ClickCrop(grid, clicks, result.low_res))
    pasted = paste_region(image, upsample_logits(result.low_res, grid.size), grid, OUTSIDE_LOGIT)
    if pasted is None:
        return Corrected(mask, kept, 0)
    region, logits = pasted
    before = mask.within(region)
    change = (logits > 0) & ~before if click.positive else before & ~(logits > 0)
    spacing = image.GetSpacing()[::-1]
    change = _near_click(change, region, at, spacing) & _ball(
        change.shape, region, at, spacing, reach_mm(mask, spacing))
    if click.positive and floor is not None:
        change &= sitk.GetArrayViewFromImage(image)[region] >= floor
    if not click.positive:  # what a positive click of this crop holds stays
        for kept_click in (c for c in clicks if c.positive):
            change &= _closer(change.shape, region, at, _voxel(image, kept_click.point), spacing)
    count = int(np.count_nonzero(change))
    if not count:
        return Corrected(mask, kept, 0)
    return Corrected(_applied(mask, region, change, click.positive), kept, count)


def _holds(grid: CropGrid, click: Prompt) -> bool:
    return grid.contains(np.array(click.point), margin=INSIDE_MARGIN * grid.size)


def _distance(grid: CropGrid, click: Prompt) -> float:
    return float(np.linalg.norm(np.asarray(grid.centre) - np.asarray(click.point)))


def _voxel(image: sitk.Image, point: Sequence[float]) -> tuple[int, int, int]:
    index = image.TransformPhysicalPointToIndex(tuple(float(v) for v in point))[::-1]
    if not all(0 <= i < n for i, n in zip(index, image.GetSize()[::-1], strict=True)):
        raise ValueError(f"the click {tuple(point)} is outside the image")
    return (int(index[0]), int(index[1]), int(index[2]))


def _anchor(mask: BoxMask, image: sitk.Image, grid: CropGrid,
            at: Sequence[int]) -> tuple[Prompt, ...]:
    """A positive click on the deepest voxel of the mask in the crop, off a negative click:
    with only the negative click the network may drop the whole finding, not the excess it
    points at (the automatic path seeds its windows the same way)."""
    if not mask.any():
        return ()
    depth = ndimage.distance_transform_edt(np.pad(mask.local, 1))[1:-1, 1:-1, 1:-1]
    indices = mask.indices()
    spacing = np.asarray(image.GetSpacing()[::-1])
    far = np.linalg.norm((indices - np.asarray(at)) * spacing, axis=1) > NEAR_MM / 2
    points = points_of_voxels(image, indices)
    crop_index = grid.to_index(points)
    inside = far & np.all((crop_index >= 1) & (crop_index <= grid.size - 2), axis=1)
    if not inside.any():
        return ()
    local = indices[inside] - np.array([b.start for b in mask.box])
    best = int(np.argmax(depth[tuple(local.T)]))
    point = points[np.nonzero(inside)[0][best]]
    return (Prompt((float(point[0]), float(point[1]), float(point[2]))),)


def _mask_prior(mask: BoxMask, image: sitk.Image, grid: CropGrid, low: int) -> torch.Tensor:
    """The mask as the network's mask prompt on ``grid``: +-PRIOR_LIMIT logits, low-res."""
    if not mask.any():
        return torch.zeros(1, 1, low, low, low)
    local = sitk.GetImageFromArray(mask.local.astype(np.float32))
    local.SetSpacing(image.GetSpacing())
    local.SetDirection(image.GetDirection())
    local.SetOrigin(image.TransformIndexToPhysicalPoint([b.start for b in mask.box[::-1]]))
    share = array_to_crop(local, grid)  # 0..1, 0 outside the mask's box
    logits = (2.0 * share - 1.0) * PRIOR_LIMIT
    return F.interpolate(torch.from_numpy(logits.astype(np.float32))[None, None],
                         size=(low, low, low), mode="area")


def _near_click(change: np.ndarray, region: Box, at: Sequence[int],
                spacing_zyx: Sequence[float]) -> np.ndarray:
    """The pieces of ``change`` (on ``region``) that reach within ``NEAR_MM`` of the click."""
    labels, count = ndimage.label(change, structure=CONNECTED)
    if not count:
        return change
    local = [int(a) - r.start for a, r in zip(at, region, strict=True)]
    reach = [int(np.ceil(NEAR_MM / s)) for s in spacing_zyx]
    near = tuple(slice(max(0, c - r), max(0, c + r + 1)) for c, r in zip(local, reach, strict=True))
    window = labels[near]
    grid = np.indices(window.shape).astype(float)
    offsets = [(g + n.start - c) * s for g, n, c, s in zip(grid, near, local, spacing_zyx,
                                                           strict=True)]
    inside = sum(o ** 2 for o in offsets) <= NEAR_MM ** 2
    wanted = np.unique(window[inside & (window > 0)])
    return np.isin(labels, wanted)


def reach_mm(mask: BoxMask, spacing_zyx: Sequence[float]) -> float:
    """How far from a click on ``mask`` the click may change it."""
    volume = mask.voxels * float(np.prod(spacing_zyx))
    radius = (3.0 * volume / (4.0 * np.pi)) ** (1.0 / 3.0)
    return float(np.clip(2.0 * radius, MIN_REACH_MM, MAX_REACH_MM))


def _closer(shape: Sequence[int], region: Box, at: Sequence[int], other: Sequence[int],
            spacing_zyx: Sequence[float]) -> np.ndarray:
    """Voxels of ``region`` nearer the voxel ``at`` than the voxel ``other``."""
    axes = [(np.arange(n) + r.start) * s for n, r, s in zip(shape, region, spacing_zyx,
                                                           strict=True)]
    a = [v * s for v, s in zip(at, spacing_zyx, strict=True)]
    b = [v * s for v, s in zip(other, spacing_zyx, strict=True)]
    # |p - a|^2 < |p - b|^2  <=>  2 p.(b - a) < |b|^2 - |a|^2
    z, y, x = (2.0 * axis * (bb - aa) for axis, aa, bb in zip(axes, a, b, strict=True))
    limit = sum(v * v for v in b) - sum(v * v for v in a)
    return (z[:, None, None] + y[None, :, None] + x[None, None, :]) < limit


def _ball(shape: Sequence[int], region: Box, at: Sequence[int], spacing_zyx: Sequence[float],
          radius_mm: float) -> np.ndarray:
    """Voxels of ``region`` within ``radius_mm`` of the voxel ``at`` (grid indices)."""
    axes = [(np.arange(n) + r.start - a) * s for n, r, a, s
            in zip(shape, region, at, spacing_zyx, strict=True)]
    z, y, x = axes
    return (z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2
            <= radius_mm ** 2)


def _applied(mask: BoxMask, region: Box, change: np.ndarray, positive: bool) -> BoxMask:
    """``mask`` with ``change`` (on ``region``) added or removed."""
    box = tuple(slice(min(m.start, r.start) if mask.any() else r.start,
                      max(m.stop, r.stop) if mask.any() else r.stop)
                for m, r in zip(mask.box, region, strict=True))
    local = mask.within(box)
    inner = tuple(slice(r.start - b.start, r.stop - b.start)
                  for r, b in zip(region, box, strict=True))
    if positive:
        local[inner] |= change
    else:
        local[inner] &= ~change
    return BoxMask.of(local, box, mask.shape)
