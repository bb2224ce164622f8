"""The node finds its checkpoint in models/ without code changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from seganypet_node.config import load_config
from seganypet_node.model import COMPACT, build_sam3d
from seganypet_node.model.checkpoint import CheckpointError, save_checkpoint
from seganypet_node.model.configured import (
    find_checkpoint,
    lesion_checkpoint,
    load_configured_model,
)


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"x")


def test_official_release_is_preferred_over_the_bundled_model(tmp_path: Path) -> None:
    touch(tmp_path, "seganypet_compact.pth")
    assert find_checkpoint(tmp_path).name == "seganypet_compact.pth"
    touch(tmp_path, "seganypet_site.pth")
    assert find_checkpoint(tmp_path).name == "seganypet_site.pth"
    touch(tmp_path, "seganypet_v1.pth")
    assert find_checkpoint(tmp_path).name == "seganypet_v1.pth"
    touch(tmp_path, "seganypet_v2.pth")
    assert find_checkpoint(tmp_path).name == "seganypet_v2.pth"


def test_the_lesion_release_is_never_taken_for_the_organ_network(tmp_path: Path) -> None:
    touch(tmp_path, "seganypet_compact.pth", "seganypet_lesion.pth")
    assert find_checkpoint(tmp_path).name == "seganypet_compact.pth"
    config = load_config(environ={})
    assert lesion_checkpoint(config, tmp_path) == tmp_path / "seganypet_lesion.pth"
    (tmp_path / "seganypet_lesion.pth").unlink()
    assert lesion_checkpoint(config, tmp_path) is None  # the organ network does lesions


def test_empty_models_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        find_checkpoint(tmp_path)


def test_configured_model_loads_from_models_folder(tmp_path: Path) -> None:
    save_checkpoint(build_sam3d(COMPACT), tmp_path / "seganypet_compact.pth")
    loaded = load_configured_model(load_config(environ={}), models_dir=tmp_path)
    assert loaded.config == COMPACT and loaded.path.name == "seganypet_compact.pth"


def test_release_style_file_uses_the_configured_architecture(tmp_path: Path) -> None:
    torch.save({"model_state_dict": build_sam3d(COMPACT).state_dict()},
               tmp_path / "seganypet_v1.pth")
    config = load_config(environ={"SEGANYPET_MODEL_ARCHITECTURE": "seganypet_compact"})
    loaded = load_configured_model(config, models_dir=tmp_path)
    assert loaded.config == COMPACT and loaded.layout == "model_state_dict"


def test_configured_checkpoint_path_wins(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.pth"
    save_checkpoint(build_sam3d(COMPACT), path)
    config = load_config(environ={"SEGANYPET_MODEL_CHECKPOINT": str(path)})
    assert load_configured_model(config, models_dir=tmp_path / "empty").path == path


def test_bundled_model_declares_the_bias_it_was_trained_with() -> None:
    from seganypet_node.config import resource_dir
    from seganypet_node.model.modeling.family import RelPosBias

    path = resource_dir("models") / "seganypet_compact.pth"
    content = torch.load(path, weights_only=True)
    assert content["format"] == "seganypet-node/2"
    assert content["config"]["rel_pos_bias"] == RelPosBias.TEXTBOOK.value


def test_torch_threads_default_to_the_cores_shared_among_the_workers() -> None:
    from seganypet_node.model.configured import runtime_options, shared_threads

    assert [shared_threads(w, cores=16) for w in (0, 1, 2, 3, 16, 64)] == [16, 16, 8, 5, 1, 1]
    config = load_config(None, environ={})
    cores = len(os.sched_getaffinity(0))
    two = config.with_overrides("worker", count=2)
    assert runtime_options(two).threads == max(1, cores // 2)
    assert runtime_options(two.with_overrides("model", threads=3)).threads == 3


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    from seganypet_node.model.configured import available_cores

    cores = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # docker --cpus=1
    assert available_cores(quota) == 1
    quota.write_text("max 100000\n")
    assert available_cores(quota) == cores
    assert available_cores(tmp_path / "absent") == cores
