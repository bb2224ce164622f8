"""The whole network (``Sam3D``): encoder, prompt encoder and mask decoder under their keys."""

from __future__ import annotations

import torch
from torch import nn

from seganypet_node.model.modeling.family import Sam3DConfig
from seganypet_node.model.modeling.image_encoder import ImageEncoderViT3D
from seganypet_node.model.modeling.mask_decoder import MaskDecoder3D
from seganypet_node.model.modeling.prompt_encoder import PromptEncoder3D


class Sam3D(nn.Module):
    """A 3D promptable segmentation network whose state_dict matches the official release.

    Parameters
    ----------
    config : Sam3DConfig
        Network shape and crop geometry.
    """

    def __init__(self, config: Sam3DConfig) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoderViT3D(config)
        self.prompt_encoder = PromptEncoder3D(config)
        self.mask_decoder = MaskDecoder3D(config)
        # Kept from the 2D SAM the release derives from; not saved, not used for PET.
        self.register_buffer("pixel_mean", torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1),
                             persistent=False)
