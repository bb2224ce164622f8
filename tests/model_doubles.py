"""Stand-ins for the network, to test the predictor's and the pipeline's geometry.

It answers like the network (low-res logits on the crop's own grid) but its answer is known:
the connected region above ``threshold`` (half-way between the test images' object, 5.0, and
background, 0.2) under each positive click, minus regions under negative clicks.
``TruthEngine`` answers with a phantom's ground truth from crops it makes itself.
The network's numerics are tested separately against the reference computation.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from scipy import ndimage

from seganypet_node.model.crop import CropGrid
from seganypet_node.model.modeling.family import Sam3DConfig


class BrightRegionEngine:
    def __init__(self, config: Sam3DConfig, threshold: float = 2.6) -> None:
        self.config = config
        self.threshold = threshold
        self.embedded: list[CropGrid] = []

    def embed(self, crop: np.ndarray, grid: CropGrid) -> torch.Tensor:
        self.embedded.append(grid)
        return torch.from_numpy(crop.copy())[None, None]

    def low_res_image(self, embedding: torch.Tensor) -> np.ndarray:
        """The crop (the "embedding" of this double) on the low-res logits grid."""
        low = self.config.low_res_size
        return F.interpolate(embedding, size=(low,) * 3, mode="area")[0, 0].numpy()

    def decode(self, embedding, coords, labels, mask_prompt):
        low = self.config.low_res_size
        small = self.low_res_image(embedding)
        components, _ = ndimage.label(small > self.threshold)
        factor = self.config.crop_size / low
        out = []
        for points, marks in zip(coords.numpy(), labels.numpy(), strict=True):
            keep = np.zeros_like(small, dtype=bool)
            for point, mark in zip(points, marks, strict=True):
                index = tuple(np.clip((point / factor).astype(int), 0, low - 1))
                region = components == components[index] if components[index] else None
                if region is None:
                    continue
                keep = keep | region if mark == 1 else keep & ~region
            out.append(np.where(keep, 10.0, -10.0))
        logits = torch.from_numpy(np.stack(out)[:, None].astype(np.float32))
        return logits, torch.full((len(out), 1), 0.9)


class LeakyEngine(BrightRegionEngine):
    """Lights every bright region in the crop, clicked or not (a network that leaks)."""

    def decode(self, embedding, coords, labels, mask_prompt):
        small = self.low_res_image(embedding)
        logits = np.where(small > self.threshold, 10.0, -10.0).astype(np.float32)
        batch = coords.shape[0]
        return (torch.from_numpy(np.repeat(logits[None, None], batch, axis=0)),
                torch.full((batch, 1), 0.9))


class ShortSightedEngine(BrightRegionEngine):
    """Segments the bright region under a positive click only within ``reach_mm`` of it, like
    a network that loses a thin tube a few tokens away from the click: unsure there (logit
    ``UNSURE``, as the compact network's faint negative logits along an aorta it lost), not
    certain it is background."""

    UNSURE = -1.0

    def __init__(self, config: Sam3DConfig, reach_mm: float = 50.0) -> None:
        super().__init__(config)
        self.reach_mm = reach_mm

    def decode(self, embedding, coords, labels, mask_prompt):
        logits, iou = super().decode(embedding, coords, labels, mask_prompt)
        low = self.config.low_res_size
        mm_per_voxel = self.config.crop_size * self.config.spacing_mm / low
        centres = (np.indices((low,) * 3).reshape(3, -1).T + 0.5) * mm_per_voxel
        factor = self.config.crop_size / low
        for row, (points, marks) in enumerate(zip(coords.numpy(), labels.numpy(), strict=True)):
            near = np.zeros(low**3, dtype=bool)
            for point, mark in zip(points, marks, strict=True):
                if mark == 1:
                    click_mm = (point / factor) * mm_per_voxel
                    near |= np.linalg.norm(centres - click_mm, axis=1) <= self.reach_mm
            values = logits[row, 0].numpy().reshape(-1)  # a view: edits the logits
            values[~near] = np.minimum(values[~near], self.UNSURE)
        return logits, iou


RAS_IN_LPS = np.diag([-1.0, -1.0, 1.0])  # columns: patient right, anterior, superior


def ras_crop(image: sitk.Image, centre: tuple[float, float, float], size: int,
             spacing: float, interpolator: int = sitk.sitkLinear) -> np.ndarray:
    """This test's own crop: ``size`` voxels of ``spacing`` mm around ``centre``, array axes
    toward patient right, anterior, superior (RAS+), indexed [dim0, dim1, dim2]."""
    reference = sitk.Image([size] * 3, sitk.sitkFloat32)
    reference.SetSpacing([spacing] * 3)
    reference.SetDirection(tuple(RAS_IN_LPS.flatten()))
    reference.SetOrigin(tuple(np.asarray(centre) - RAS_IN_LPS @ np.full(3, (size - 1) / 2
                                                                          * spacing)))
    sampled = sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0,
                            sitk.sitkFloat32)
    return sitk.GetArrayFromImage(sampled).transpose(2, 1, 0)


class TruthEngine:
    """A network that answers with the ground-truth organ under each positive click.

    It builds its own RAS+ crops of the image and of the labels (``ras_crop``), checks that
    the crop the predictor hands it is the same, and answers on its own label crop. A crop,
    a click or a paste in the wrong place or orientation then gives the wrong organ, or the
    right one in the wrong place.
    """

    def __init__(self, config: Sam3DConfig, image: sitk.Image, labels: sitk.Image) -> None:
        self.config = config
        self.image = image
        self.labels = labels
        self.embedded: list[CropGrid] = []
        self.worst_crop_difference = 0.0

    def embed(self, crop: np.ndarray, grid: CropGrid) -> torch.Tensor:
        size, spacing = self.config.crop_size, self.config.spacing_mm
        assert crop.shape == (size,) * 3 and grid.spacing == spacing
        expected = ras_crop(self.image, grid.centre, size, spacing)
        self.worst_crop_difference = max(self.worst_crop_difference,
                                         float(np.abs(crop - expected).max()))
        self.embedded.append(grid)
        labels = ras_crop(self.labels, grid.centre, size, spacing, sitk.sitkNearestNeighbor)
        return torch.from_numpy(labels.copy())[None, None]

    def decode(self, embedding, coords, labels, mask_prompt):
        crop = embedding[0, 0].numpy()
        low = self.config.low_res_size
        out = []
        for points, marks in zip(coords.numpy(), labels.numpy(), strict=True):
            keep = np.zeros(crop.shape, dtype=bool)
            for point, mark in zip(points, marks, strict=True):
                index = tuple(np.clip(np.round(point).astype(int), 0, crop.shape[0] - 1))
                label = crop[index]
                if label == 0 or mark < 0:
                    continue
                keep = keep | (crop == label) if mark == 1 else keep & ~(crop == label)
            share = F.interpolate(torch.from_numpy(keep.astype(np.float32))[None, None],
                                  size=(low,) * 3, mode="area")[0, 0].numpy()
            out.append(np.where(share > 0.5, 10.0, -10.0))
        logits = torch.from_numpy(np.stack(out)[:, None].astype(np.float32))
        return logits, torch.full((len(out), 1), 0.9)
