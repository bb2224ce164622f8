"""How the crops' logits of one organ become one volume on the patient's grid.

Crops are blended with weights that fall towards their faces; windows added to follow an organ
give way to the crops centred on clicks; and, since every catalogue organ is one piece, only
the pieces of the mask connected to a positive click are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage

from seganypet_node.imaging.boxes import Box
from seganypet_node.model.crop import CropGrid, paste_region
from seganypet_node.model.engine import upsample_logits
from seganypet_node.model.prediction import OUTSIDE_LOGIT

DROPPED_LOGIT = -4.0  # ceiling for mask pieces not connected to the prompts
CLICK_REACH = 2  # voxels: a piece this close to a positive click counts as prompted
CONNECTED = np.ones((3, 3, 3))  # 26-connectivity, as the pipeline's clean-up


@dataclass(frozen=True, eq=False)
class CropLogits:
    """One crop's low-res logits and whether it is a window that followed the organ."""

    grid: CropGrid
    low_res: torch.Tensor  # (1, 1, L, L, L)
    seeded: bool


def merge_logits(image: sitk.Image, crops: Sequence[CropLogits],
                 clicks: Sequence[Sequence[float]]) -> tuple[Box, np.ndarray]:
    """Merged logits on the box of ``image``'s grid that the crops cover: the box ([z, y, x]
    slices; empty when no crop lies in the image) and the float32 logits in it (``clicks``:
    the positive LPS points).

    A window only speaks where the clicked crops are unsure (their own faces) or did not look:
    near its own faces it sees less of the organ than they do. Nothing outside the box is
    allocated: its logits are ``OUTSIDE_LOGIT``.
    """
    pasted = []
    for crop in sorted(crops, key=lambda c: c.seeded):  # clicked crops first
        placed = paste_region(image, upsample_logits(crop.low_res, crop.grid.size), crop.grid,
                              OUTSIDE_LOGIT)
        tapered = paste_region(image, taper(crop.grid.size), crop.grid, 0.0)
        if placed is not None and tapered is not None:
            pasted.append((placed[0], placed[1], tapered[1], crop.seeded))
    if not pasted:
        return (slice(0, 0),) * 3, np.zeros((0, 0, 0), np.float32)
    low = [min(p[0][a].start for p in pasted) for a in range(3)]
    high = [max(p[0][a].stop for p in pasted) for a in range(3)]
    total = np.zeros([hi - lo for lo, hi in zip(low, high, strict=True)], np.float32)
    weight = np.zeros_like(total)
    clicked = np.zeros_like(total)  # highest weight of the crops centred on clicks
    for region, values, weights, seeded in pasted:
        local = tuple(slice(r.start - lo, r.stop - lo) for r, lo in zip(region, low, strict=True))
        if seeded:
            weights = weights * (1.0 - clicked[local])
        else:
            clicked[local] = np.maximum(clicked[local], weights)
        total[local] += values * weights
        weight[local] += weights
    inside = np.full(total.shape, OUTSIDE_LOGIT, dtype=np.float32)
    covered = weight > 0
    inside[covered] = total[covered] / weight[covered]
    indices = [image.TransformPhysicalPointToIndex(tuple(float(v) for v in p))[::-1]
               for p in clicks]
    drop_unprompted(inside, np.array(indices, dtype=int).reshape(-1, 3) - np.asarray(low))
    return tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True)), inside


def drop_unprompted(logits: np.ndarray, clicks: np.ndarray) -> None:
    """Cap, in place, the logits of mask pieces no click (array index) lies in or next to."""
    parts, count = ndimage.label(logits > 0, structure=CONNECTED)
    if count == 0:
        return
    kept = np.zeros(count + 1, dtype=bool)
    for click in clicks:
        low = np.maximum(click - CLICK_REACH, 0)
        high = np.minimum(click + CLICK_REACH + 1, parts.shape)
        if np.all(high > low):
            kept[np.unique(parts[low[0]:high[0], low[1]:high[1], low[2]:high[2]])] = True
    if not kept[1:].any():  # the network missed every click: nothing to tell pieces apart by
        return
    _cap_dropped(logits, parts, kept)


def keep_touching(low_res: torch.Tensor, seeded: np.ndarray) -> torch.Tensor:
    """Low-res logits with the pieces that do not overlap the ``seeded`` region capped."""
    values = low_res[0, 0].numpy().copy()
    parts, count = ndimage.label(values > 0, structure=CONNECTED)
    kept = np.zeros(count + 1, dtype=bool)
    kept[np.unique(parts[seeded])] = True
    _cap_dropped(values, parts, kept)
    return torch.from_numpy(values)[None, None]


def _cap_dropped(logits: np.ndarray, parts: np.ndarray, kept: np.ndarray) -> None:
    """Cap, in place, the logits of the labelled pieces ``kept`` (by label) says to drop."""
    kept[0] = True  # background stays as it is
    dropped = ~kept[parts]
    logits[dropped] = np.minimum(logits[dropped], DROPPED_LOGIT)


def taper(size: int) -> np.ndarray:
    """Separable weight: 1 over the central half of a crop, falling to 0.05 at its faces."""
    u = (np.arange(size) + 0.5) / size
    ramp = np.clip(np.minimum(u, 1 - u) * 4, 0.05, 1.0).astype(np.float32)
    return ramp[:, None, None] * ramp[None, :, None] * ramp[None, None, :]
