"""Which checkpoint the node uses: the configured file, else the best one found in models/."""

from __future__ import annotations

import os
from pathlib import Path

from seganypet_node.config import Config, resource_dir
from seganypet_node.model.checkpoint import CheckpointError, LoadedModel, load_model
from seganypet_node.model.engine import RuntimeOptions
from seganypet_node.model.modeling.family import PRESETS, Sam3DConfig
from seganypet_node.settings_values import Architecture

# Official release files first (a site drops one in), then the bundled compact model.
SEARCH_ORDER = ("seganypet_v2.pth", "seganypet_v1.pth", "seganypet*.pth",
                "seganypet_compact.pth")
BUNDLED = "seganypet_compact.pth"
LESION_RELEASE = "seganypet_lesion.pth"  # the official lesion checkpoint, never an organ one


def find_checkpoint(models_dir: Path) -> Path:
    """The checkpoint that ``models_dir`` offers, by :data:`SEARCH_ORDER`."""
    for pattern in SEARCH_ORDER:
        found = sorted(p for p in models_dir.glob(pattern)
                       if p.is_file() and p.name != LESION_RELEASE
                       and (p.name != BUNDLED or pattern == BUNDLED))
        if found:
            return found[0]
    raise CheckpointError(
        f"{models_dir}: no checkpoint found (looked for {', '.join(SEARCH_ORDER)}); "
        f"put the official seganypet_v1.pth there or set [model] checkpoint"
    )


def configured_architecture(config: Config) -> Sam3DConfig | None:
    """The architecture the config names for files that carry none (None = vit_b_ori)."""
    name = config.model.architecture
    return None if name is Architecture.AUTO else PRESETS[name.value]


def runtime_options(config: Config) -> RuntimeOptions:
    """The network's runtime from ``[model]``; ``threads = 0`` is :func:`shared_threads`."""
    model = config.model
    return RuntimeOptions(device=model.device,
                          threads=model.threads or shared_threads(config.worker.count),
                          autocast=model.autocast, mirror_images=model.mirror_images)


def shared_threads(workers: int, cores: int | None = None) -> int:
    """Torch threads per worker thread so that ``workers`` of them fill the cores this
    process may use without oversubscribing them (torch on a CPU slowed 29x when they were).

    Each Python thread calling torch runs its own team of ``torch.get_num_threads()``, so
    two workers with all cores each ask for twice the cores there are.
    """
    available = cores if cores is not None else available_cores()
    return max(1, available // max(1, workers))


def available_cores(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: its CPU affinity, cut to a cgroup v2 CPU quota
    (``docker --cpus``) when one is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    try:
        quota, period = cgroup.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, -(-int(quota) // int(period))))


def load_configured_model(config: Config, models_dir: Path | None = None) -> LoadedModel:
    """Load the checkpoint the configuration selects, on the configured device."""
    path = config.model.checkpoint or find_checkpoint(models_dir or resource_dir("models"))
    return load_model(path, configured_architecture(config),
                      device=runtime_options(config).resolved_device())


def lesion_checkpoint(config: Config, models_dir: Path | None = None) -> Path | None:
    """The lesion network's file: ``[lesions] checkpoint``, else ``seganypet_lesion.pth`` in
    models/ when a site put it there; None means the organ network also does lesions."""
    if config.lesions.checkpoint is not None:
        return config.lesions.checkpoint
    path = (models_dir or resource_dir("models")) / LESION_RELEASE
    return path if path.is_file() else None


def load_lesion_model(config: Config, models_dir: Path | None = None) -> LoadedModel | None:
    """Load the lesion checkpoint when there is one (see :func:`lesion_checkpoint`)."""
    path = lesion_checkpoint(config, models_dir)
    if path is None:
        return None
    return load_model(path, configured_architecture(config),
                      device=runtime_options(config).resolved_device())
