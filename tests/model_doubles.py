"""A stand-in for the network that segments by intensity, to test the predictor's geometry.

It answers like the network (low-res logits on the crop's own grid) but its answer is known:
the connected region above ``threshold`` (half-way between the test images' object, 5.0, and
background, 0.2) under each positive click, minus regions under negative clicks.
The network's numerics are tested separately against the reference computation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from seganypet_node.model.crop import CropGrid
from seganypet_node.model.family import Sam3DConfig


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
