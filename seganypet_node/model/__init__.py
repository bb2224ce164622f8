"""SegAnyPET: the 3D SAM network (checkpoint-compatible with the release), loading, predictor."""

from seganypet_node.model.modeling.build import (
    build_sam3d,
    build_sam3d_compact,
    build_sam3d_vit_b_ori,
)
from seganypet_node.model.modeling.family import COMPACT, VIT_B_ORI, Sam3DConfig
from seganypet_node.model.modeling.sam3d import Sam3D

__all__ = [
    "COMPACT",
    "VIT_B_ORI",
    "Sam3D",
    "Sam3DConfig",
    "build_sam3d",
    "build_sam3d_compact",
    "build_sam3d_vit_b_ori",
]
