"""Prompt encoder (``prompt_encoder``): points and a previous low-res mask to embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn

from seganypet_node.model.modeling.family import Sam3DConfig
from seganypet_node.model.modeling.image_encoder import LayerNorm3d


class PositionEmbeddingRandom3D(nn.Module):
    """Random Fourier features of 3D positions: [sin, cos, sin] of ``2*pi*(2p-1) @ G``."""

    def __init__(self, num_pos_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(3, num_pos_feats))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        gaussian: torch.Tensor = self.positional_encoding_gaussian_matrix  # type: ignore[assignment]
        projected = 2 * math.pi * ((2 * coords - 1) @ gaussian)
        # The released model repeats sin (not sin, cos): keep it for the weights to fit.
        return torch.cat([projected.sin(), projected.cos(), projected.sin()], dim=-1)

    def forward(self, size: tuple[int, int, int]) -> torch.Tensor:
        """Encoding of a dense grid, (C, X, Y, Z).

        The grid stacks its axes as (dim1, dim0, dim2) while points are (dim0, dim1, dim2);
        the released model was trained so, and the quirk is kept.
        """
        x, y, z = size
        gaussian: torch.Tensor = self.positional_encoding_gaussian_matrix  # type: ignore[assignment]
        grid = torch.ones(size, device=gaussian.device)
        along0 = (grid.cumsum(dim=0) - 0.5) / y
        along1 = (grid.cumsum(dim=1) - 0.5) / x
        along2 = (grid.cumsum(dim=2) - 0.5) / z
        return self._encode(torch.stack([along1, along0, along2], dim=-1)).permute(3, 0, 1, 2)

    def forward_with_coords(self, coords: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
        """Encoding of points given in voxel units of a grid of ``size``, (B, N, C)."""
        scale = torch.tensor(size, dtype=torch.float32, device=coords.device)
        return self._encode(coords.float() / scale)


class PromptEncoder3D(nn.Module):
    """Sparse (points) and dense (mask) prompt embeddings.

    Parameters
    ----------
    config : Sam3DConfig
        Network shape (embedding width, grid and crop size, mask channels).
    """

    def __init__(self, config: Sam3DConfig) -> None:
        super().__init__()
        dim, g = config.embed_dim, config.grid_size
        self.embed_dim = dim
        self.image_embedding_size = (g, g, g)
        self.input_image_size = (config.crop_size,) * 3
        self.pe_layer = PositionEmbeddingRandom3D(dim // 3)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(2))
        self.not_a_point_embed = nn.Embedding(1, dim)
        chans = config.mask_in_chans
        self.mask_downscaling = nn.Sequential(
            nn.Conv3d(1, chans // 4, kernel_size=2, stride=2),
            LayerNorm3d(chans // 4),
            nn.GELU(),
            nn.Conv3d(chans // 4, chans, kernel_size=2, stride=2),
            LayerNorm3d(chans),
            nn.GELU(),
            nn.Conv3d(chans, dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Position encoding of the image embedding grid, (1, C, g, g, g)."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        coords = coords + 0.5  # voxel centres
        labels = labels.to(coords.dtype)
        if pad:
            # Appended after the shift, at the origin; its encoding is zeroed below anyway.
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 3)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(labels.shape[0], 1)], dim=1)
        embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        padding = (labels == -1)[..., None]
        embedding = torch.where(padding, self.not_a_point_embed.weight, embedding)
        negative, positive = (self._weight(e) for e in self.point_embeddings)
        embedding = embedding + (labels == 0)[..., None] * negative
        return embedding + (labels == 1)[..., None] * positive

    @staticmethod
    def _weight(embedding: nn.Module) -> torch.Tensor:
        assert isinstance(embedding, nn.Embedding)
        return embedding.weight

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse (B, N(+1), C) and dense (B, C, g, g, g) embeddings.

        ``boxes`` must be None: the released weights were not trained with box prompts.
        """
        if boxes is not None:
            raise ValueError("box prompts are not supported by the SegAnyPET weights")
        batch = points[0].shape[0] if points is not None else (
            masks.shape[0] if masks is not None else 1)
        device = self.not_a_point_embed.weight.device
        sparse = torch.empty((batch, 0, self.embed_dim), device=device)
        if points is not None:
            sparse = torch.cat([sparse, self._embed_points(points[0], points[1], pad=True)], dim=1)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1, 1).expand(
                batch, -1, *self.image_embedding_size)
        return sparse, dense
