"""What the predictor takes and gives: clicks, the network's answer per crop, a prediction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
import torch

from seganypet_node.imaging.boxes import Box, placed_in
from seganypet_node.imaging.volume import array_on_grid
from seganypet_node.model.crop import CropGrid

OUTSIDE_LOGIT = -100.0  # logits where no crop looked


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
    """A segmentation on the input grid, held on the box its crops covered.

    The merged logits of an organ live only where a crop looked; holding them on that box
    keeps a trial merge (the predictor makes several per organ) tied to the organ, not to
    the field of view: 0.5 GB per full-volume float array at 2 mm.

    Parameters
    ----------
    image : SimpleITK.Image
        The input grid (the predictor's image; not copied).
    box : tuple of slice
        [z, y, x] slices of the input grid the crops covered (empty when none did).
    local_logits : numpy.ndarray
        float32 merged logits in ``box``; ``OUTSIDE_LOGIT`` is implied elsewhere.
    iou : float
        The network's predicted IoU of the crop holding the first click.
    crops : tuple of CropResult
        Every crop used (one, or several windows for a large organ).
    """

    image: sitk.Image = field(repr=False)
    box: Box
    local_logits: np.ndarray = field(repr=False)
    iou: float
    crops: tuple[CropResult, ...] = field(repr=False)

    @property
    def offset(self) -> np.ndarray:
        """The box's first voxel [z, y, x] on the input grid."""
        return np.array([s.start for s in self.box], dtype=int)

    def local_mask(self) -> np.ndarray:
        """bool mask in :attr:`box`."""
        return self.local_logits > 0

    def mask_in(self, box: Box) -> np.ndarray:
        """bool mask in any ``box`` of the input grid (False where no crop looked)."""
        return placed_in(box, self.local_logits > 0, self.box, False)

    def local_logits_image(self) -> sitk.Image:
        """:attr:`local_logits` as an image with the box's own geometry."""
        image = sitk.GetImageFromArray(self.local_logits)
        image.SetSpacing(self.image.GetSpacing())
        image.SetDirection(self.image.GetDirection())
        image.SetOrigin(self.image.TransformIndexToPhysicalPoint(
            tuple(int(v) for v in self.offset[::-1])))
        return image

    @property
    def mask(self) -> sitk.Image:
        """uint8 0/1 on the input image's grid (allocates the whole volume)."""
        full = np.zeros(self.image.GetSize()[::-1], dtype=np.uint8)
        full[self.box] = self.local_mask()
        return array_on_grid(full, self.image)

    @property
    def logits(self) -> sitk.Image:
        """float32 merged logits on the input grid (``OUTSIDE_LOGIT`` where no crop looked;
        allocates the whole volume)."""
        full = np.full(self.image.GetSize()[::-1], OUTSIDE_LOGIT, dtype=np.float32)
        full[self.box] = self.local_logits
        return array_on_grid(full, self.image)
