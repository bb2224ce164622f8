"""Reading and writing checkpoints: the official SegAnyPET release and the project's own files.

Official files are a dict with the weights under ``model_state_dict`` (saved on GPU); a bare
state_dict or one under ``state_dict`` / ``model`` is accepted too, and a ``module.`` prefix
left by distributed training is stripped. The project's files add ``format`` and ``config``
so the architecture travels with the weights. Format 2 files declare the encoder's
relative-position bias form in ``config``; format 1 files predate that declaration and were
all trained with the textbook form, so they load with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seganypet_node.errors import NodeError
from seganypet_node.hashing import file_sha256
from seganypet_node.model.modeling.build import build_sam3d
from seganypet_node.model.modeling.family import PRESETS, RelPosBias, Sam3DConfig
from seganypet_node.model.modeling.sam3d import Sam3D

PROJECT_FORMAT = "seganypet-node/2"
# Written before the bias form was declared; every such file has the textbook form.
PROJECT_FORMAT_UNDECLARED_BIAS = "seganypet-node/1"
PROJECT_FORMATS = (PROJECT_FORMAT, PROJECT_FORMAT_UNDECLARED_BIAS)
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")
MAX_LISTED = 5


class CheckpointError(NodeError, ValueError):
    """A checkpoint cannot be read or does not fit the network; the message names the file."""


@dataclass(frozen=True)
class ModelIdentity:
    """What a result names as its model: the file, the SHA-256 of its bytes, the network."""

    checkpoint: str
    sha256: str
    network: str
    rel_pos_bias: RelPosBias

    @property
    def label(self) -> str:
        """Short form for pictures and reports: file name and the hash's first 12 digits."""
        return f"{self.checkpoint} (sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class LoadedModel:
    """A network with its weights and where they came from."""

    model: Sam3D
    config: Sam3DConfig
    path: Path
    layout: str  # "project" or the key the official weights sat under ("bare" for none)
    meta: Mapping[str, Any]
    sha256: str

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(self.path.name, self.sha256, self.config.name,
                             self.config.rel_pos_bias)


def read_checkpoint(path: Path) -> dict[str, Any] | Mapping[str, torch.Tensor]:
    """Unpickle a checkpoint safely (tensors and plain containers only) on the CPU."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    # Training scripts save their argparse.Namespace beside the weights; allow just that.
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            content: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
            return content
    except Exception as exc:  # torch.load raises many types for damaged files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated, corrupt, or holds objects "
            f"other than tensors): {first_line}"
        ) from None


def split_layout(content: Any, path: Path) -> tuple[str, Mapping[str, torch.Tensor]]:
    """Find the state_dict inside a checkpoint; returns (layout, state_dict)."""
    if not isinstance(content, Mapping):
        raise CheckpointError(f"{path}: expected a dict of weights, found {type(content).__name__}")
    if content.get("format") in PROJECT_FORMATS:
        return "project", content["model_state_dict"]
    for key in STATE_DICT_KEYS:
        if isinstance(content.get(key), Mapping):
            return key, _strip_module(content[key])
    if content and all(isinstance(v, torch.Tensor) for v in content.values()):
        return "bare", _strip_module(content)
    raise CheckpointError(
        f"{path}: no weights found (looked for {', '.join(STATE_DICT_KEYS)} or a bare state_dict); "
        f"top-level keys: {', '.join(list(map(str, content))[:MAX_LISTED])}"
    )


def _strip_module(state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    if state and all(k.startswith("module.") for k in state):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return state


def check_state_dict(model: Sam3D, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Raise :class:`CheckpointError` naming the first mismatching keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (network wants {tuple(v.shape)})"
        for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
            problems.append(f"{label}: {', '.join(items[:MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(
            f"{path}: does not fit the {model.config.name!r} network; " + "; ".join(problems))


def load_model(path: Path, config: Sam3DConfig | None = None,
               device: str | torch.device = "cpu") -> LoadedModel:
    """Build the network and load ``path`` strictly.

    Parameters
    ----------
    path : pathlib.Path
        Official release file or a project checkpoint.
    config : Sam3DConfig, optional
        Architecture for files that do not carry one (the official release is 'vit_b_ori').
        A project checkpoint's own configuration wins.
    device : str or torch.device
        Where the weights end up (they are always read onto the CPU first).
    """
    content = read_checkpoint(path)
    layout, state = split_layout(content, path)
    meta: Mapping[str, Any] = {}
    if layout == "project":
        assert isinstance(content, Mapping)
        config = _project_config(content, path)
        meta = dict(content.get("meta", {}))
    if config is None:
        config = PRESETS["vit_b_ori"]
    model = build_sam3d(config)
    check_state_dict(model, state, path)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return LoadedModel(model.to(device).eval(), config, path, layout, meta, file_sha256(path))


def _project_config(content: Mapping[str, Any], path: Path) -> Sam3DConfig:
    try:
        values = dict(content["config"])
        if content["format"] == PROJECT_FORMAT_UNDECLARED_BIAS:
            values.setdefault("rel_pos_bias", RelPosBias.TEXTBOOK.value)
        elif "rel_pos_bias" not in values:
            raise ValueError(f"rel_pos_bias missing (required by {PROJECT_FORMAT})")
        return Sam3DConfig.from_dict(values)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad network configuration: {exc}") from None


def save_checkpoint(model: Sam3D, path: Path, meta: Mapping[str, Any] | None = None) -> None:
    """Write a project checkpoint (weights, configuration, free-form metadata) atomically."""
    payload = {
        "format": PROJECT_FORMAT,
        "config": model.config.to_dict(),
        "model_state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    temp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, temp)
    temp.replace(path)
