"""Configurations of the SegAnyPET / SAM-Med3D network family.

One frozen dataclass says everything that shapes the network (and so the state_dict) plus how
its input crops are made (spacing, array orientation). ``VIT_B_ORI`` is the official SegAnyPET
configuration; smaller members share the code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any


class RelPosBias(Enum):
    """How the encoder adds its three per-axis relative-position terms to the attention logits.

    With per-axis terms ``rel_a[query, k]`` (the query's vector times the table row of offset
    ``query_a - k``), the two forms give, for a key at (kd, kh, kw):

    ``TEXTBOOK``
        ``rel_d[q, kd] + rel_h[q, kh] + rel_w[q, kw]`` (MViTv2, 2D SAM's decomposition).
    ``SAM_MED3D``
        ``rel_d[q, kw] + rel_h[(qd, qh, kd), kw] + rel_w[(qd, qh, kh), kw]``: what SAM-Med3D's
        and SegAnyPET's code computes, because its 5-D indexing broadcasts every term over the
        key's w coordinate and takes the h and w terms from another token's query. The
        official weights were trained with it.
    """

    TEXTBOOK = "textbook"
    SAM_MED3D = "sam_med3d"


@dataclass(frozen=True)
class Sam3DConfig:
    """Shape of a 3D SAM network and of the crops it takes.

    Parameters
    ----------
    name : str
        Identifier written into checkpoints and SEG algorithm identification.
    crop_size : int
        Edge of the cubic input crop in voxels.
    patch_size : int
        Edge of a patch; the token grid is ``crop_size // patch_size`` per axis.
    encoder_width, encoder_depth, encoder_heads : int
        Width, number of blocks and attention heads of the image encoder.
    global_attention_blocks : tuple of int
        Blocks that attend globally; the others use window attention.
    window_size : int
        Window edge of the window blocks (the official model pads the 8^3 grid to 14^3).
    embed_dim : int
        Width of image embedding, prompt embeddings and mask decoder.
    mlp_ratio : float
        Encoder MLP width as a multiple of ``encoder_width``.
    mask_in_chans : int
        Hidden channels of the dense (mask) prompt encoder.
    decoder_depth, decoder_heads, decoder_mlp_dim : int
        Two-way transformer of the mask decoder.
    iou_head_hidden : int
        Hidden width of the IoU prediction head.
    multimask_outputs : int
        Number of multimask outputs (the single-mask token comes on top).
    spacing_mm : float
        Isotropic voxel spacing of the crops the model was trained on.
    orientation : str
        Direction the crop array axes increase toward, e.g. "RAS" (torchio's canonical).
    rel_pos_bias : RelPosBias
        Form of the encoder's relative-position bias the weights were trained with.
    """

    name: str
    crop_size: int = 128
    patch_size: int = 16
    encoder_width: int = 768
    encoder_depth: int = 12
    encoder_heads: int = 12
    global_attention_blocks: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    embed_dim: int = 384
    mlp_ratio: float = 4.0
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden: int = 256
    multimask_outputs: int = 3
    spacing_mm: float = 1.5
    orientation: str = "RAS"
    rel_pos_bias: RelPosBias = RelPosBias.SAM_MED3D

    def __post_init__(self) -> None:
        problems = []
        if self.crop_size % self.patch_size:
            problems.append("crop_size must be a multiple of patch_size")
        if self.encoder_width % self.encoder_heads:
            problems.append("encoder_width must be divisible by encoder_heads")
        if self.embed_dim % 3 or self.embed_dim % 8:
            problems.append("embed_dim must be divisible by 3 (position encoding) and 8")
        if (self.embed_dim // 2) % self.decoder_heads:
            problems.append("embed_dim // 2 must be divisible by decoder_heads")
        if any(not 0 <= b < self.encoder_depth for b in self.global_attention_blocks):
            problems.append("global_attention_blocks must index encoder blocks")
        pairs = ({"R", "L"}, {"A", "P"}, {"S", "I"})
        if len(self.orientation) != 3 or any(
            sum(c in pair for c in self.orientation) != 1 for pair in pairs
        ):
            problems.append("orientation must name one direction per axis, e.g. RAS or LPS")
        if self.window_size < self.crop_size // self.patch_size:
            problems.append("window_size must cover the token grid (one padded window)")
        if self.spacing_mm <= 0:
            problems.append("spacing_mm must be positive")
        if not isinstance(self.rel_pos_bias, RelPosBias):
            problems.append("rel_pos_bias must be a RelPosBias")
        if problems:
            raise ValueError(f"invalid network configuration {self.name!r}: " + "; ".join(problems))

    @property
    def grid_size(self) -> int:
        """Tokens per axis of the image embedding."""
        return self.crop_size // self.patch_size

    @property
    def low_res_size(self) -> int:
        """Edge of the low-resolution mask logits (4x the token grid)."""
        return self.grid_size * 4

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint file."""
        values = asdict(self)
        values["global_attention_blocks"] = list(self.global_attention_blocks)
        values["rel_pos_bias"] = self.rel_pos_bias.value
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Sam3DConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown network configuration keys: {', '.join(unknown)}")
        clean = dict(values)
        if "global_attention_blocks" in clean:
            clean["global_attention_blocks"] = tuple(clean["global_attention_blocks"])
        if "rel_pos_bias" in clean:
            try:
                clean["rel_pos_bias"] = RelPosBias(clean["rel_pos_bias"])
            except ValueError:
                forms = ", ".join(form.value for form in RelPosBias)
                raise ValueError(f"rel_pos_bias {clean['rel_pos_bias']!r} is not one of "
                                 f"{forms}") from None
        return cls(**clean)


VIT_B_ORI = Sam3DConfig(name="vit_b_ori", rel_pos_bias=RelPosBias.SAM_MED3D)

# The compact member trained by the project on its phantoms: 48^3 crops at 4 mm cover the same
# 192 mm as the official 128^3 at 1.5 mm, and the small encoder trains and runs on a CPU. It
# was trained with the textbook bias, before the authors' form was known, and stays so.
COMPACT = Sam3DConfig(
    name="seganypet_compact",
    crop_size=48,
    patch_size=6,
    encoder_width=128,
    encoder_depth=4,
    encoder_heads=4,
    global_attention_blocks=(1, 3),
    window_size=14,
    embed_dim=192,
    mask_in_chans=16,
    decoder_depth=2,
    decoder_heads=8,
    decoder_mlp_dim=512,
    iou_head_hidden=128,
    spacing_mm=4.0,
    orientation="RAS",
    rel_pos_bias=RelPosBias.TEXTBOOK,
)

PRESETS = {config.name: config for config in (VIT_B_ORI, COMPACT)}
