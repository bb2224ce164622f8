"""Held-out evaluation of a network on phantoms: Dice and HD95 per organ, 1 and 5 clicks.

Clicks are simulated: the first at the organ centre (its deepest voxel), each further one at
the deepest voxel of the largest error region, positive for a miss and negative for excess.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from seganypet_node.evaluation.metrics import dice, hausdorff95
from seganypet_node.imaging.volume import as_image
from seganypet_node.model.prediction import Prediction, Prompt
from seganypet_node.model.predictor import SegAnyPETPredictor
from seganypet_node.organs import ORGANS
from seganypet_node.training.data import error_click


@dataclass(frozen=True)
class OrganScore:
    """Agreement of one organ of one subject after 1 and after 5 clicks."""

    subject: str
    organ: str
    dice_1: float
    hd95_1: float
    dice_5: float
    hd95_5: float




def centre_click(truth: np.ndarray, image: sitk.Image) -> Prompt:
    """A positive click at the organ's deepest voxel (what a reader would click)."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(truth, sampling=image.GetSpacing()[::-1])
    z, y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    point = image.TransformIndexToPhysicalPoint((int(x), int(y), int(z)))
    return Prompt((point[0], point[1], point[2]))


def score_organ(predictor: SegAnyPETPredictor, image: sitk.Image, truth: np.ndarray,
                subject: str, organ: str, clicks: int = 5) -> OrganScore:
    """Segment one organ from a centre click, then correct with up to ``clicks - 1`` more."""
    spacing = image.GetSpacing()[::-1]
    prediction = predictor.predict([centre_click(truth, image)])
    first = _mask(prediction)
    for _ in range(clicks - 1):
        found = error_click(_mask(prediction), truth)
        if found is None:
            break
        z, y, x = (int(v) for v in found[0])
        point = image.TransformIndexToPhysicalPoint((x, y, z))
        click = Prompt((point[0], point[1], point[2]), positive=found[1])
        prediction = predictor.refine(prediction, [click])
    final = _mask(prediction)
    return OrganScore(subject, organ, dice(first, truth), hausdorff95(first, truth, spacing),
                      dice(final, truth), hausdorff95(final, truth, spacing))


def _mask(prediction: Prediction) -> np.ndarray:
    return sitk.GetArrayFromImage(prediction.mask).astype(bool)


def score_subject(predictor: SegAnyPETPredictor, image: sitk.Image, labels: np.ndarray,
                  subject: str, organ_labels: dict[str, int] | None = None,
                  log: Callable[[str], None] = print) -> list[OrganScore]:
    """Every catalogue organ present in ``labels`` (at least 30 voxels)."""
    predictor.set_image(image)
    organ_labels = organ_labels or {o.name: o.label for o in ORGANS}
    scores = []
    for organ, label in organ_labels.items():
        truth = labels == label
        if truth.sum() < 30:
            continue
        start = time.perf_counter()
        scores.append(score_organ(predictor, image, truth, subject, organ))
        log(f"{subject} {organ}: dice {scores[-1].dice_1:.3f} (1 click), "
            f"{scores[-1].dice_5:.3f} (5 clicks), {time.perf_counter() - start:.1f} s")
    return scores


def summary_table(scores: list[OrganScore]) -> str:
    """Markdown table: per organ, mean Dice and median HD95 with 1 and 5 clicks."""
    lines = ["| organ | subjects | Dice 1 click | HD95 mm 1 click | Dice 5 clicks "
             "| HD95 mm 5 clicks |",
             "|---|---|---|---|---|---|"]
    organs = [o.name for o in ORGANS if any(s.organ == o.name for s in scores)]
    for organ in organs:
        rows = [s for s in scores if s.organ == organ]
        lines.append(
            f"| {organ} | {len(rows)} | {statistics.mean(r.dice_1 for r in rows):.3f} | "
            f"{statistics.median(r.hd95_1 for r in rows):.1f} | "
            f"{statistics.mean(r.dice_5 for r in rows):.3f} | "
            f"{statistics.median(r.hd95_5 for r in rows):.1f} |")
    per_organ_1 = [statistics.mean(s.dice_1 for s in scores if s.organ == o) for o in organs]
    per_organ_5 = [statistics.mean(s.dice_5 for s in scores if s.organ == o) for o in organs]
    lines.append(f"| **mean over organs** | | **{statistics.mean(per_organ_1):.3f}** | | "
                 f"**{statistics.mean(per_organ_5):.3f}** | |")
    return "\n".join(lines)


def evaluate_phantoms(predictor: SegAnyPETPredictor, seeds: Sequence[int],
                      log: Callable[[str], None] = print) -> list[OrganScore]:
    """Held-out phantom subjects (seeds never used in training)."""
    from seganypet_node.phantom.generate import PhantomSpec, generate_volume

    scores: list[OrganScore] = []
    for seed in seeds:
        volume = generate_volume(PhantomSpec(seed=seed, slices=380, matrix=160,
                                             coverage="random", lesions=seed % 3))
        image = as_image(volume.suv, volume.grid.spacing, volume.grid.origin)
        scores += score_subject(predictor, image, volume.labels, f"phantom{seed}", log=log)
    return scores


def evaluate_totalseg(predictor: SegAnyPETPredictor,
                      log: Callable[[str], None] = print) -> list[OrganScore]:
    """The PET simulated on the TotalSegmentator example CT (real anatomy, RAS grid)."""
    from seganypet_node.phantom.from_ct import simulate_from_totalseg

    simulated = simulate_from_totalseg()
    return score_subject(predictor, simulated.suv, simulated.labels, "totalseg_ct", log=log)


def write_report(scores: list[OrganScore], out: Path, title: str) -> str:
    """Write ``out`` (Markdown) and ``out.json`` beside it; returns the table."""
    return save_table(summary_table(scores), scores, out, title)


def save_table(table: str, records: Sequence[Any], out: Path, title: str) -> str:
    """``out`` as a titled Markdown table and ``out.json`` with the records (dataclasses)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"## {title}\n\n{table}\n")
    out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in records], indent=2))
    return table
