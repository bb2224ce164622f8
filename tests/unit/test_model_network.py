"""The network: state_dict identical to the release's table, numerics equal to the spec's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seganypet_node.model import VIT_B_ORI, Sam3DConfig, build_sam3d, build_sam3d_vit_b_ori

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec"
# Same family and quirks as vit_b_ori (8^3 tokens padded to a 14^3 window), small enough for CI.
SMALL = Sam3DConfig(name="test_small", encoder_width=96, encoder_depth=4, encoder_heads=4,
                    global_attention_blocks=(1, 3), embed_dim=48, decoder_heads=4,
                    decoder_mlp_dim=64, iou_head_hidden=32)


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero relative tables and biases, so every term of the attention matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            scale = 0.5 if "rel_pos" in name else 0.1
            if "rel_pos" in name or name.endswith("bias") or "pos_embed" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model


@pytest.fixture(scope="module")
def table() -> dict:
    path = SPEC / "seganypet_vit_b_ori_state_dict.json"
    if not path.is_file():
        pytest.skip(f"spec table not found at {path}")
    return json.loads(path.read_text())


def test_state_dict_matches_the_release_table(table) -> None:
    state = build_sam3d_vit_b_ori().state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [
        (e["key"], e["shape"]) for e in table["entries"]]
    assert sum(v.numel() for v in state.values()) == table["total_state_dict_elements"]


def test_state_dict_built_from_the_table_loads_strictly(table) -> None:
    generated = {e["key"]: torch.randn(e["shape"]) for e in table["entries"]}
    model = build_sam3d_vit_b_ori()
    model.load_state_dict(generated, strict=True)
    assert torch.equal(model.image_encoder.pos_embed, generated["image_encoder.pos_embed"])


def test_interfaces_and_shapes() -> None:
    torch.manual_seed(0)
    model = build_sam3d(SMALL)
    with torch.inference_mode():
        embedding = model.image_encoder(torch.randn(2, 1, 128, 128, 128))
        assert embedding.shape == (2, 48, 8, 8, 8)
        coords = torch.tensor([[[60.0, 64.0, 70.0]], [[20.0, 30.0, 40.0]]])
        labels = torch.tensor([[1], [1]])
        sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None,
                                             masks=torch.zeros(2, 1, 32, 32, 32))
        assert sparse.shape == (2, 2, 48) and dense.shape == (2, 48, 8, 8, 8)
        assert model.prompt_encoder.get_dense_pe().shape == (1, 48, 8, 8, 8)
        logits, iou = model.mask_decoder(
            image_embeddings=embedding, image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=False)
        assert logits.shape == (2, 1, 32, 32, 32) and iou.shape == (2, 1)
        multi, _ = model.mask_decoder(embedding, model.prompt_encoder.get_dense_pe(), sparse,
                                      dense, multimask_output=True)
        assert multi.shape == (2, 3, 32, 32, 32)


def encoder_both_ways(model: torch.nn.Module, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image embedding with the closed-form padding and with the padded window computed."""
    x = torch.randn(1, 1, 128, 128, 128, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        fast = model.image_encoder(x)
        model.image_encoder.literal = True
        reference = model.image_encoder(x)
    return fast, reference


def test_closed_form_padding_equals_the_padded_window() -> None:
    fast, reference = encoder_both_ways(randomise(build_sam3d(SMALL)), seed=1)
    assert (fast - reference).abs().max().item() < 1e-4
    assert fast.abs().max().item() > 0.1  # not trivially zero


@pytest.mark.slow
def test_closed_form_padding_equals_the_padded_window_for_vit_b_ori() -> None:
    fast, reference = encoder_both_ways(randomise(build_sam3d_vit_b_ori(), seed=3), seed=2)
    assert (fast - reference).abs().max().item() < 1e-4


def test_dense_position_encoding_keeps_the_axis_quirk() -> None:
    encoder = build_sam3d(SMALL).prompt_encoder
    dense = encoder.get_dense_pe()[0]  # (C, 8, 8, 8)
    # Voxel (i, j, k) of the dense grid is encoded like the point (j, i, k).
    point = torch.tensor([[[2.0, 5.0, 3.0]]]) * 16  # crop voxels of token (2, 5, 3) ...
    encoded = encoder.pe_layer.forward_with_coords(point + 8, (128, 128, 128))[0, 0]
    assert torch.allclose(dense[:, 5, 2, 3], encoded, atol=1e-5)
    assert not torch.allclose(dense[:, 2, 5, 3], encoded, atol=1e-3)


def test_sin_cos_sin_encoding() -> None:
    encoder = build_sam3d(SMALL).prompt_encoder
    features = encoder.pe_layer.forward_with_coords(torch.tensor([[[10.0, 20.0, 30.0]]]),
                                                    (128, 128, 128))[0, 0]
    third = features.shape[0] // 3
    assert torch.allclose(features[:third], features[2 * third:])
    assert torch.allclose(features[:third] ** 2 + features[third:2 * third] ** 2,
                          torch.ones(third), atol=1e-5)


def test_logits_follow_the_click_and_ignore_padding_points() -> None:
    torch.manual_seed(0)
    model = randomise(build_sam3d(SMALL), seed=5)
    pe = model.prompt_encoder.get_dense_pe()
    with torch.inference_mode():
        embedding = model.image_encoder(torch.randn(1, 1, 128, 128, 128))

        def decode(coords: list, labels: list) -> torch.Tensor:
            sparse, dense = model.prompt_encoder(
                points=(torch.tensor([coords], dtype=torch.float32), torch.tensor([labels])),
                boxes=None, masks=torch.zeros(1, 1, 32, 32, 32))
            return model.mask_decoder(embedding, pe, sparse, dense, multimask_output=False)[0]

        here = decode([[40, 40, 40], [0, 0, 0]], [1, -1])
        moved = decode([[90, 80, 70], [0, 0, 0]], [1, -1])
        padding_moved = decode([[40, 40, 40], [100, 3, 77]], [1, -1])
        negative = decode([[40, 40, 40], [0, 0, 0]], [0, -1])
    assert (here - moved).abs().max() > 1e-3
    assert torch.allclose(here, padding_moved, atol=1e-6)
    assert (here - negative).abs().max() > 1e-3


def test_box_prompts_are_refused() -> None:
    encoder = build_sam3d(SMALL).prompt_encoder
    with pytest.raises(ValueError, match="box prompts"):
        encoder(points=None, boxes=torch.zeros(1, 6), masks=None)


def test_invalid_configuration_names_the_problem() -> None:
    with pytest.raises(ValueError, match="crop_size must be a multiple of patch_size"):
        Sam3DConfig(name="bad", crop_size=100)
    with pytest.raises(ValueError, match="orientation"):
        Sam3DConfig(name="bad", orientation="RRS")
    assert Sam3DConfig.from_dict(VIT_B_ORI.to_dict()) == VIT_B_ORI
