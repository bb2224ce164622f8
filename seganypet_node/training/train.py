"""Interactive (SAM-style) training of a compact SegAnyPET network on phantom subjects.

Each step: a batch of crops around random organs; a first positive click inside the target;
then up to two corrective clicks from the error region with the previous low-res logits fed
back as the mask prompt. Loss: Dice + BCE per click round, plus the IoU head's error.
Progress is printed; ``train_state.pt`` in the output folder resumes an interrupted run.

Run: ``seganypet-node train --out work/train --steps 3000``
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seganypet_node.model.checkpoint import load_model, save_checkpoint
from seganypet_node.model.modeling.build import build_sam3d
from seganypet_node.model.modeling.family import COMPACT, Sam3DConfig
from seganypet_node.model.modeling.sam3d import Sam3D
from seganypet_node.phantom.generate import PhantomSpec, PhantomVolume, generate_volume
from seganypet_node.training.data import CropSampler, TrainingCrop, error_click

TRAIN_SEEDS_START = 1000  # held-out evaluation uses seeds >= 9000
HARD_TRAIN_SEEDS_START = 2000  # the hard population (phantom.variations) for training
EVAL_SEEDS_START = 9000
# Training copies of hard subjects are kept in memory: pixels no finer than this.
HARD_TRAIN_FINEST_MM = 3.0


@dataclass(frozen=True)
class TrainingPlan:
    """What to train and for how long."""

    out: Path
    steps: int = 3000
    batch: int = 8
    subjects: int = 24
    learning_rate: float = 4e-4
    warmup: int = 150
    max_clicks: int = 3
    threads: int = 0
    seed: int = 0
    config: Sam3DConfig = COMPACT
    report_every: int = 25
    save_every: int = 250
    # Fine-tuning: start from this checkpoint's weights (and network) instead of random ones.
    init: Path | None = None
    # Organs drawn for half of the crops (the rest from all organs): the ones still weak.
    focus: tuple[str, ...] = ()
    # Subjects of the hard population (pose, field, physiology, tumours, scanners) added to
    # the typical ones.
    hard_subjects: int = 0


def training_subjects(count: int, log: Any = print, hard: int = 0) -> list[PhantomVolume]:
    """Phantom subjects for training: ``count`` typical ones (varied size, arms, coverage)
    and ``hard`` of the hard population; seeds never evaluated."""
    specs = [PhantomSpec(seed=TRAIN_SEEDS_START + i, slices=380, matrix=160, coverage="random",
                         lesions=i % 3) for i in range(count)]
    specs += [PhantomSpec.hard(HARD_TRAIN_SEEDS_START + i, HARD_TRAIN_FINEST_MM)
              for i in range(hard)]
    volumes = []
    for i, spec in enumerate(specs, start=1):
        start = time.perf_counter()
        volumes.append(generate_volume(spec))
        log(f"subject {i}/{len(specs)} simulated in {time.perf_counter() - start:.1f} s")
    return volumes


def train(plan: TrainingPlan, log: Any = print) -> Path:
    """Run (or resume) training; returns the path of the exported checkpoint."""
    plan.out.mkdir(parents=True, exist_ok=True)
    if plan.threads:
        torch.set_num_threads(plan.threads)
    torch.manual_seed(plan.seed)
    model = _initial_model(plan)
    optimiser = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=0.01)
    rng = np.random.default_rng(plan.seed)
    state_path = plan.out / "train_state.pt"
    step = 0
    if state_path.is_file():
        step, rng = _resume(state_path, model, optimiser)
        log(f"resumed at step {step}")
    sampler = CropSampler(training_subjects(plan.subjects, log, plan.hard_subjects),
                          model.config, rng, focus=plan.focus)
    history: list[tuple[float, float]] = []
    started = time.perf_counter()
    first_step = step
    while step < plan.steps:
        _set_learning_rate(optimiser, plan, step)
        loss, dice = _train_step(model, optimiser, [sampler.sample() for _ in range(plan.batch)],
                                 int(rng.integers(1, plan.max_clicks + 1)), rng)
        history.append((loss, dice))
        step += 1
        if step % plan.report_every == 0 or step == plan.steps:
            _report(log, step, plan, history[-plan.report_every:], started, first_step)
        if step % plan.save_every == 0 or step == plan.steps:
            _save(state_path, model, optimiser, step, rng)
    exported = plan.out / f"{model.config.name}.pth"
    save_checkpoint(model.eval(), exported, {
        "trained_steps": step, "batch": plan.batch, "subjects": plan.subjects,
        "train_seeds": f"{TRAIN_SEEDS_START}-{TRAIN_SEEDS_START + plan.subjects - 1}",
        "hard_train_seeds": (f"{HARD_TRAIN_SEEDS_START}-"
                             f"{HARD_TRAIN_SEEDS_START + plan.hard_subjects - 1}"
                             if plan.hard_subjects else None),
        "max_clicks": plan.max_clicks, "learning_rate": plan.learning_rate,
        "fine_tuned_from": plan.init.name if plan.init else None, "focus": list(plan.focus),
    })
    log(f"wrote {exported}")
    return exported


def _initial_model(plan: TrainingPlan) -> Sam3D:
    if plan.init is None:
        return build_sam3d(plan.config).train()
    return load_model(plan.init).model.train()


def _train_step(model: Sam3D, optimiser: torch.optim.Optimizer, crops: list[TrainingCrop],
                rounds: int, rng: np.random.Generator) -> tuple[float, float]:
    size, low = model.config.crop_size, model.config.low_res_size
    images = torch.from_numpy(np.stack([c.image for c in crops]))[:, None]
    targets = torch.from_numpy(np.stack([c.target for c in crops]).astype(np.float32))[:, None]
    coords = torch.from_numpy(np.stack([c.click for c in crops]))[:, None, :]
    labels = torch.ones(len(crops), 1, dtype=torch.long)
    embedding = model.image_encoder(images)
    pe = model.prompt_encoder.get_dense_pe()
    previous = torch.zeros(len(crops), 1, low, low, low)
    total = torch.zeros(())
    first_dice = 0.0
    for round_number in range(rounds):
        sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=previous)
        low_res, iou = model.mask_decoder(image_embeddings=embedding, image_pe=pe,
                                          sparse_prompt_embeddings=sparse,
                                          dense_prompt_embeddings=dense, multimask_output=False)
        logits = F.interpolate(low_res, size=(size,) * 3, mode="trilinear", align_corners=False)
        probability = torch.sigmoid(logits)
        overlap = (probability * targets).sum(dim=(2, 3, 4))
        sums = probability.sum(dim=(2, 3, 4)) + targets.sum(dim=(2, 3, 4))
        dice = (2 * overlap + 1) / (sums + 1)
        hard = (logits > 0).float()
        actual_iou = ((hard * targets).sum(dim=(2, 3, 4)) / (
            ((hard + targets) > 0).float().sum(dim=(2, 3, 4)) + 1e-6))
        total = total + (1 - dice).mean() + F.binary_cross_entropy_with_logits(logits, targets) \
            + 0.1 * F.mse_loss(iou, actual_iou.detach())
        if round_number == 0:
            first_dice = float(2 * (hard * targets).sum() / (hard.sum() + targets.sum() + 1e-6))
        if round_number < rounds - 1:
            coords, labels = _add_error_clicks(coords, labels, hard, targets)
            previous = low_res.detach()
    optimiser.zero_grad()
    (total / rounds).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    return float(total.detach()) / rounds, first_dice


def _add_error_clicks(coords: torch.Tensor, labels: torch.Tensor, hard: torch.Tensor,
                      targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    new_coords, new_labels = [], []
    for b in range(coords.shape[0]):
        found = error_click(hard[b, 0].numpy() > 0, targets[b, 0].numpy() > 0)
        if found is None:  # perfect: repeat the last click
            new_coords.append(coords[b, -1].numpy())
            new_labels.append(int(labels[b, -1]))
        else:
            new_coords.append(found[0])
            new_labels.append(int(found[1]))
    extra = torch.from_numpy(np.stack(new_coords)).float()[:, None, :]
    return (torch.cat([coords, extra], dim=1),
            torch.cat([labels, torch.tensor(new_labels)[:, None]], dim=1))


def _set_learning_rate(optimiser: torch.optim.Optimizer, plan: TrainingPlan, step: int) -> None:
    if step < plan.warmup:
        factor = (step + 1) / plan.warmup
    else:
        progress = (step - plan.warmup) / max(1, plan.steps - plan.warmup)
        factor = 0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * progress))
    for group in optimiser.param_groups:
        group["lr"] = plan.learning_rate * factor


def _report(log: Any, step: int, plan: TrainingPlan, recent: list[tuple[float, float]],
            started: float, first_step: int) -> None:
    elapsed = time.perf_counter() - started
    rate = (step - first_step) / elapsed
    eta = (plan.steps - step) / rate if rate else float("inf")
    loss = sum(r[0] for r in recent) / len(recent)
    dice = sum(r[1] for r in recent) / len(recent)
    log(f"step {step}/{plan.steps}  loss {loss:.3f}  dice(1 click) {dice:.3f}  "
        f"{rate * 60:.0f} steps/min  eta {eta / 60:.1f} min")


def _save(path: Path, model: Sam3D, optimiser: torch.optim.Optimizer, step: int,
          rng: np.random.Generator) -> None:
    temp = path.with_suffix(".tmp")
    torch.save({"config": model.config.to_dict(), "model": model.state_dict(),
                "optimiser": optimiser.state_dict(), "step": step,
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, temp)
    temp.replace(path)


def _resume(path: Path, model: Sam3D, optimiser: torch.optim.Optimizer
            ) -> tuple[int, np.random.Generator]:
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
    saved = state.get("config")
    if saved is not None and saved != model.config.to_dict():
        raise ValueError(f"{path}: saved for network {saved.get('name')!r} "
                         f"(rel_pos_bias {saved.get('rel_pos_bias', 'textbook')}), not for "
                         f"{model.config.name!r} ({model.config.rel_pos_bias.value}); "
                         f"use another --out folder")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    torch.set_rng_state(state["torch_rng"])
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    return int(state["step"]), rng
