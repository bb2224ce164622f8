"""Builders of the network family (as segment-anything's ``build_sam``)."""

from __future__ import annotations

from seganypet_node.model.modeling.family import COMPACT, VIT_B_ORI, Sam3DConfig
from seganypet_node.model.modeling.sam3d import Sam3D


def build_sam3d(config: Sam3DConfig) -> Sam3D:
    """A network of the given configuration, in eval mode, with fresh weights."""
    return Sam3D(config).eval()


def build_sam3d_vit_b_ori() -> Sam3D:
    """The official SegAnyPET configuration ('vit_b_ori'): 128^3 crops at 1.5 mm."""
    return build_sam3d(VIT_B_ORI)


def build_sam3d_compact() -> Sam3D:
    """The compact member bundled with the node: 48^3 crops at 4 mm."""
    return build_sam3d(COMPACT)
