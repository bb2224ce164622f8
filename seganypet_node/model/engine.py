"""Running the network on one crop: normalisation, mirror images, device, threads, precision,
embedding cache."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from seganypet_node.model.crop import CropGrid
from seganypet_node.model.mirrors import (
    mirror_set,
    mirrored_crops,
    mirrored_points,
    mirrored_volume,
)
from seganypet_node.model.modeling.family import Sam3DConfig
from seganypet_node.model.modeling.sam3d import Sam3D
from seganypet_node.settings_values import Autocast

AUTOCAST_DTYPES = {Autocast.FP16: torch.float16, Autocast.BF16: torch.bfloat16}
T = TypeVar("T")


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how the network runs.

    Parameters
    ----------
    device : str
        "auto" (CUDA when present, else CPU), "cpu" or "cuda[:N]".
    threads : int
        CPU threads for torch (0 leaves torch's default).
    autocast : Autocast
        Mixed precision (CUDA only).
    cache_size : int
        Image embeddings kept for repeated clicks on the same crops.
    mirror_images : int
        Mirror images of each crop whose logits are averaged (1, 2, 4 or 8; 1: none). Each
        costs one more encoder and decoder pass.
    """

    device: str = "auto"
    threads: int = 0
    autocast: Autocast = Autocast.NONE
    cache_size: int = 8
    mirror_images: int = 8  # as [model] mirror_images (tests/unit/test_config.py checks)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


class PromptableModel(Protocol):
    """What the predictor needs of a network (the SAM engine below, or a stand-in in tests)."""

    config: Sam3DConfig

    def embed(self, crop: np.ndarray, grid: CropGrid) -> torch.Tensor: ...

    def decode(self, embedding: torch.Tensor, coords: torch.Tensor, labels: torch.Tensor,
               mask_prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def z_normalise(crop: np.ndarray) -> np.ndarray:
    """(x - mean) / std with the statistics of the voxels > 0, as the authors' torchio pipeline."""
    foreground = crop[crop > 0]
    if foreground.size < 2:
        return crop.astype(np.float32)
    std = float(foreground.std(ddof=1))  # torch.std is unbiased
    if std == 0:
        return crop.astype(np.float32)
    return ((crop - float(foreground.mean())) / std).astype(np.float32)


class SamEngine:
    """The network behind the predictor: crop in, image embedding; prompts in, logits.

    Parameters
    ----------
    model : Sam3D
        Network with weights.
    options : RuntimeOptions
        Device, threads, precision, cache size.
    """

    def __init__(self, model: Sam3D, options: RuntimeOptions | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.device = self.options.resolved_device()
        if self.options.threads > 0:
            torch.set_num_threads(self.options.threads)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self._mirrors = mirror_set(self.options.mirror_images)
        self._cache: OrderedDict[CropGrid, torch.Tensor] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._dense_pe = self._run(self.model.prompt_encoder.get_dense_pe)

    def clear_cache(self) -> None:
        """Forget cached embeddings (a new image)."""
        with self._cache_lock:
            self._cache.clear()

    def embed(self, crop: np.ndarray, grid: CropGrid) -> torch.Tensor:
        """Image embeddings (one per mirror image) of a crop (raw values; normalised here),
        cached per crop grid."""
        with self._cache_lock:
            if grid in self._cache:
                self._cache.move_to_end(grid)
                return self._cache[grid]
        batch = mirrored_crops(z_normalise(crop), self._mirrors)
        tensor = torch.from_numpy(batch).to(self.device)
        embedding = self._run(lambda: self.model.image_encoder(tensor).float())
        with self._cache_lock:
            self._cache[grid] = embedding
            while len(self._cache) > self.options.cache_size:
                self._cache.popitem(last=False)
        return embedding

    def decode(self, embedding: torch.Tensor, coords: torch.Tensor, labels: torch.Tensor,
               mask_prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-res logits (B, 1, L, L, L) and IoU (B, 1) for B prompt sets on one embedding,
        averaged over the mirror images.

        Every mirror image and prompt set goes through the decoder in one batch of M x B
        (mirror-major), as the encoder takes the M images at once: one pass of Python and
        kernel launches instead of M.
        """
        size = self.config.crop_size
        images, batch = len(self._mirrors), coords.shape[0]

        def run() -> tuple[torch.Tensor, torch.Tensor]:
            logits, iou = self._decode_batch(
                torch.repeat_interleave(embedding, batch, dim=0),
                torch.cat([mirrored_points(coords, axes, size) for axes in self._mirrors]),
                labels.repeat(images, 1),
                torch.cat([mirrored_volume(mask_prompt, axes) for axes in self._mirrors]))
            per_image = logits.reshape(images, batch, *logits.shape[1:])
            unmirrored = torch.stack([mirrored_volume(per_image[image], axes)
                                      for image, axes in enumerate(self._mirrors)])
            return unmirrored.mean(0), iou.reshape(images, batch, -1).mean(0)
        return self._run(run)

    def _decode_batch(self, embeddings: torch.Tensor, coords: torch.Tensor,
                      labels: torch.Tensor, mask_prompt: torch.Tensor,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder on N image embeddings with one prompt set each (N, ...)."""
        sparse, dense = self.model.prompt_encoder(
            points=(coords.to(self.device), labels.to(self.device)), boxes=None,
            masks=mask_prompt.to(self.device))
        logits, iou = self.model.mask_decoder(
            image_embeddings=embeddings, image_pe=self._dense_pe,
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=False)
        return logits.float().cpu(), iou.float().cpu()

    def _run(self, fn: Callable[[], T]) -> T:
        with torch.inference_mode(), self._autocast():
            return fn()

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        dtype = AUTOCAST_DTYPES.get(self.options.autocast)
        if dtype is None or self.device.type != "cuda":
            yield
            return
        with torch.autocast("cuda", dtype=dtype):
            yield


def upsample_logits(low_res: torch.Tensor, size: int) -> np.ndarray:
    """Low-res logits (1, 1, L, L, L) to the crop size, trilinear as the authors do."""
    full = F.interpolate(low_res, size=(size, size, size), mode="trilinear", align_corners=False)
    return full[0, 0].numpy()
