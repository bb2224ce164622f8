"""3D ViT image encoder (``image_encoder``): patches, 12 blocks, convolutional neck."""

from __future__ import annotations

import torch
from torch import nn

from seganypet_node.model.modeling.attention import EncoderAttention
from seganypet_node.model.modeling.family import RelPosBias, Sam3DConfig

ENCODER_LAYERNORM_EPS = 1e-6


class LayerNorm3d(nn.Module):
    """LayerNorm over the channel axis of a (B, C, D, H, W) tensor."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class MLPBlock(nn.Module):
    """Two linear layers with an activation between them."""

    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class PatchEmbed3D(nn.Module):
    """Non-overlapping 3D patches to tokens: (B, 1, S, S, S) -> (B, g, g, g, width)."""

    def __init__(self, patch: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(1, width, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 4, 1)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block; window blocks attend within a (padded) window."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, span: int,
                 form: RelPosBias) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=ENCODER_LAYERNORM_EPS)
        self.attn = EncoderAttention(width, heads, span, form)
        self.norm2 = nn.LayerNorm(width, eps=ENCODER_LAYERNORM_EPS)
        self.mlp = MLPBlock(width, int(width * mlp_ratio))

    def forward(self, x: torch.Tensor, literal: bool = False) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), literal=literal)
        return x + self.mlp(self.norm2(x))


class ImageEncoderViT3D(nn.Module):
    """The image encoder: (B, 1, S, S, S) crop -> (B, embed_dim, g, g, g) embedding.

    Parameters
    ----------
    config : Sam3DConfig
        Network shape.
    """

    def __init__(self, config: Sam3DConfig) -> None:
        super().__init__()
        g, width = config.grid_size, config.encoder_width
        self.img_size = config.crop_size
        # When True, every block computes its padded window and bias literally, as the
        # authors' code does (reference numerics for tests and benchmarks).
        self.literal = False
        self.patch_embed = PatchEmbed3D(config.patch_size, width)
        self.pos_embed = nn.Parameter(torch.zeros(1, g, g, g, width))
        self.blocks = nn.ModuleList(
            EncoderBlock(
                width, config.encoder_heads, config.mlp_ratio,
                span=g if i in config.global_attention_blocks else config.window_size,
                form=config.rel_pos_bias,
            )
            for i in range(config.encoder_depth)
        )
        self.neck = nn.Sequential(
            nn.Conv3d(width, config.embed_dim, kernel_size=1, bias=False),
            LayerNorm3d(config.embed_dim),
            nn.Conv3d(config.embed_dim, config.embed_dim, kernel_size=3, padding=1, bias=False),
            LayerNorm3d(config.embed_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3:] != (self.img_size,) * 3:
            raise ValueError(f"crop must be {self.img_size}^3 voxels, got {tuple(x.shape)}")
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x, literal=self.literal)
        return self.neck(x.permute(0, 4, 1, 2, 3))
