"""Checkpoint files: official layouts load strictly, bad files fail naming the file and keys."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import torch

from seganypet_node.model import COMPACT, build_sam3d
from seganypet_node.model.checkpoint import CheckpointError, load_model, save_checkpoint
from seganypet_node.model.modeling.family import RelPosBias
from tests.unit.test_model_network import SMALL, randomise


@pytest.fixture(scope="module")
def small_state() -> dict[str, torch.Tensor]:
    return dict(randomise(build_sam3d(SMALL)).state_dict())


@pytest.mark.parametrize("layout", ["model_state_dict", "state_dict", "model", "bare", "module"])
def test_official_layouts_load(tmp_path: Path, small_state, layout: str) -> None:
    if layout == "bare":
        content: object = small_state
    elif layout == "module":
        content = {"model_state_dict": {f"module.{k}": v for k, v in small_state.items()}}
    else:
        # As the authors' training script saves: weights plus epoch and its argparse options.
        content = {layout: small_state, "epoch": 200, "args": argparse.Namespace(lr=8e-5)}
    path = tmp_path / "seganypet_v1.pth"
    torch.save(content, path)
    loaded = load_model(path, SMALL)
    assert loaded.layout == ("model_state_dict" if layout == "module" else layout)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, small_state[key]), key


def test_project_checkpoint_carries_its_configuration(tmp_path: Path) -> None:
    model = randomise(build_sam3d(COMPACT))
    path = tmp_path / "compact.pth"
    save_checkpoint(model, path, {"trained_on": "phantoms"})
    loaded = load_model(path)  # no configuration given: the file says which
    assert loaded.config == COMPACT and loaded.layout == "project"
    assert loaded.meta == {"trained_on": "phantoms"}
    assert path.stat().st_size < 50 * 1024 * 1024
    assert torch.load(path, weights_only=True)["config"]["rel_pos_bias"] == "textbook"
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.identity.rel_pos_bias is RelPosBias.TEXTBOOK


def test_official_layout_takes_the_authors_bias(tmp_path: Path, small_state) -> None:
    path = tmp_path / "seganypet_v1.pth"
    torch.save({"model_state_dict": small_state}, path)
    loaded = load_model(path, SMALL)
    assert loaded.config.rel_pos_bias is RelPosBias.SAM_MED3D
    attention = loaded.model.image_encoder.blocks[0].attn
    assert attention.form is RelPosBias.SAM_MED3D


def test_first_format_files_load_with_the_textbook_bias(tmp_path: Path) -> None:
    """Files written before the form was declared were all trained with the textbook one."""
    model = randomise(build_sam3d(COMPACT))
    values = COMPACT.to_dict()
    del values["rel_pos_bias"]
    path = tmp_path / "old.pth"
    torch.save({"format": "seganypet-node/1", "config": values, "meta": {},
                "model_state_dict": model.state_dict()}, path)
    loaded = load_model(path)
    assert loaded.config == COMPACT
    assert loaded.model.image_encoder.blocks[0].attn.form is RelPosBias.TEXTBOOK


def test_current_format_must_declare_the_bias(tmp_path: Path) -> None:
    values = COMPACT.to_dict()
    del values["rel_pos_bias"]
    path = tmp_path / "undeclared.pth"
    torch.save({"format": "seganypet-node/2", "config": values, "meta": {},
                "model_state_dict": build_sam3d(COMPACT).state_dict()}, path)
    with pytest.raises(CheckpointError, match="rel_pos_bias missing"):
        load_model(path)


def test_renamed_key_fails_naming_it(tmp_path: Path, small_state) -> None:
    state = dict(small_state)
    name = "image_encoder.blocks.0.attn.qkv.weight"
    state[name.replace("weight", "weigth")] = state.pop(name)
    path = tmp_path / "renamed.pth"
    torch.save({"model_state_dict": state}, path)
    with pytest.raises(CheckpointError) as caught:
        load_model(path, SMALL)
    message = str(caught.value)
    assert str(path) in message
    assert "missing: image_encoder.blocks.0.attn.qkv.weight" in message
    assert "unexpected: image_encoder.blocks.0.attn.qkv.weigth" in message


def test_reshaped_key_fails_naming_it(tmp_path: Path, small_state) -> None:
    state = dict(small_state)
    state["mask_decoder.mask_tokens.weight"] = torch.zeros(3, 48)
    path = tmp_path / "reshaped.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError,
                       match=r"wrong shape: mask_decoder.mask_tokens.weight \(3, 48\)"):
        load_model(path, SMALL)


def test_official_configuration_refuses_a_small_file(tmp_path: Path, small_state) -> None:
    path = tmp_path / "small.pth"
    torch.save({"model_state_dict": small_state}, path)
    with pytest.raises(CheckpointError, match="does not fit the 'vit_b_ori' network"):
        load_model(path)  # default architecture for release files is vit_b_ori


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_unreadable_files_name_the_file(tmp_path: Path, small_state, damage: str) -> None:
    path = tmp_path / "broken.pth"
    torch.save({"model_state_dict": small_state}, path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 100)
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=str(path)):
        load_model(path, SMALL)


def test_pickled_code_is_not_executed(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"model_state_dict": {}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="holds objects other than tensors"):
        load_model(path, SMALL)
