"""What the predictor takes and gives: clicks, the network's answer per crop, a prediction."""

from __future__ import annotations

from dataclasses import dataclass, field

import SimpleITK as sitk
import torch

from seganypet_node.model.crop import CropGrid


@dataclass(frozen=True)
class Prompt:
    """One click: a point in patient coordinates (LPS, mm) and whether it is inside the target."""

    point: tuple[float, float, float]
    positive: bool = True


@dataclass(frozen=True, eq=False)
class CropResult:
    """The network's answer on one crop, kept for further clicks."""

    grid: CropGrid
    clicks: tuple[Prompt, ...]
    low_res: torch.Tensor  # (1, 1, L, L, L) logits
    iou: float
    seeded: bool = False  # a window added to follow the organ, not centred on a click


@dataclass(frozen=True, eq=False)
class Prediction:
    """A segmentation on the input grid.

    Parameters
    ----------
    mask : SimpleITK.Image
        uint8 0/1 on the input image's grid.
    logits : SimpleITK.Image
        float32 merged logits on the same grid (``OUTSIDE_LOGIT`` where no crop looked).
    iou : float
        The network's predicted IoU of the crop holding the first click.
    crops : tuple of CropResult
        Every crop used (one, or several windows for a large organ).
    """

    mask: sitk.Image
    logits: sitk.Image
    iou: float
    crops: tuple[CropResult, ...] = field(repr=False)
