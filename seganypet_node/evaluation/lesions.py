"""What the lesion search achieves on held-out phantoms: lesion-wise sensitivity, false
positives per study, Dice over detected lesions, and autoPET's voxel figures.

Two held-out sets: tumour-rich phantoms with quiet physiology (0-4 tumours of the hard
population's sites and sizes plus 0-8 small lesions in liver, lungs, aorta and marrow; seeds
from :data:`LESION_SEEDS_START`), and the hard population itself, whose hot bowel, ureters,
muscle, brown fat and injection sites mimic lesions (seeds from :data:`HARD_LESION_SEEDS_START`).
Neither range is used for training (2000+), the atlas, or the organ evaluation (9100-9331).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seganypet_node.evaluation.clicks import save_table
from seganypet_node.evaluation.metrics import dice
from seganypet_node.imaging.units import Unit
from seganypet_node.imaging.volume import VolumeInput, as_image
from seganypet_node.measure.reference import ReferenceKind
from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE
from seganypet_node.phantom.generate import PhantomSpec, generate_volume
from seganypet_node.phantom.variations import Variation, draw_tumours
from seganypet_node.pipeline import OrganPipeline, PipelineResult

LESION_SEEDS_START = 9500
HARD_LESION_SEEDS_START = 9400
ELIGIBLE_ML = 1.0  # lesions counted for sensitivity: at least this big ...
ELIGIBLE_LIVER_RATIO = 2.0  # ... and SUVmax at least this times the liver mean


@dataclass(frozen=True)
class LesionCaseScore:
    """One study's lesion figures against its ground truth."""

    case: str
    truth_lesions: int
    eligible: int
    eligible_found: int
    reported: int
    false_positives: int
    dice_detected: tuple[float, ...]
    voxel_dice: float | None  # autoPET: over the study's union of lesions
    false_positive_ml: float
    false_negative_ml: float
    physiological_set_aside: int
    seconds: float
    blood_pool: str  # where the blood-pool reference landed, judged on the ground truth


def tumour_rich_spec(seed: int) -> PhantomSpec:
    """A held-out subject with quiet physiology and 0-12 lesions of every kind."""
    base = PhantomSpec.hard(seed)
    rng = np.random.default_rng([seed, 31])
    variation = dataclasses.replace(
        base.variation or Variation(), hot_bowel=False, ureters=False, muscle=False,
        brown_fat=False, injection_site=False, catheter=False,
        tumours=draw_tumours(rng, int(rng.integers(0, 5))))
    return dataclasses.replace(base, variation=variation, lesions=int(rng.integers(0, 9)))


def lesion_specs(count: int, hard: bool) -> tuple[tuple[str, PhantomSpec], ...]:
    """``count`` held-out cases of one set, named by seed and set."""
    if hard:
        return tuple((f"{s} hard", PhantomSpec.hard(s))
                     for s in range(HARD_LESION_SEEDS_START, HARD_LESION_SEEDS_START + count))
    return tuple((f"{s} tumours", tumour_rich_spec(s))
                 for s in range(LESION_SEEDS_START, LESION_SEEDS_START + count))


def evaluate_lesions(pipeline: OrganPipeline, specs: Sequence[tuple[str, PhantomSpec]],
                     log: Callable[[str], None] = print) -> list[LesionCaseScore]:
    """Run the whole pipeline on each case and score its lesions."""
    scores = []
    for name, spec in specs:
        volume = generate_volume(spec)
        grid = volume.grid
        image = VolumeInput(as_image(volume.suv, grid.spacing, grid.origin), Unit.SUVBW)
        start = time.perf_counter()
        result = pipeline.run(image)
        score = score_case(name, volume.labels, volume.suv, result,
                           float(np.prod(grid.spacing)) / 1000.0,
                           time.perf_counter() - start)
        scores.append(score)
        log(f"{name}: {score.eligible_found}/{score.eligible} eligible found, "
            f"{score.false_positives} false positive(s) ({score.seconds:.0f} s)")
    return scores


def score_case(name: str, labels: np.ndarray, suv: np.ndarray, result: PipelineResult,
               voxel_ml: float, seconds: float) -> LesionCaseScore:
    """Lesion-wise and voxel-wise figures of one run against the phantom's labels."""
    lesions = [lesion.mask.full() for lesion in result.lesions.lesions]
    liver_mean = float(suv[labels == BY_NAME["liver"].label].mean())
    truth_labels = [int(v) for v in np.unique(labels) if v > LESION_LABEL_BASE]
    eligible = found = 0
    dices, false_negative_ml = [], 0.0
    truth_union = labels > LESION_LABEL_BASE
    for value in truth_labels:
        truth = labels == value
        hits = [mask for mask in lesions if (mask & truth).any()]
        if not hits:
            false_negative_ml += float(truth.sum()) * voxel_ml
        if truth.sum() * voxel_ml >= ELIGIBLE_ML and \
                suv[truth].max() >= ELIGIBLE_LIVER_RATIO * liver_mean:
            eligible += 1
            found += bool(hits)
        if hits:
            dices.append(round(dice(np.logical_or.reduce(hits), truth), 3))
    false = [mask for mask in lesions if not (mask & truth_union).any()]
    predicted = np.logical_or.reduce(lesions) if lesions else np.zeros_like(truth_union)
    voxel_dice = round(dice(predicted, truth_union), 3) if truth_union.any() else None
    return LesionCaseScore(
        name, len(truth_labels), eligible, found, len(lesions), len(false), tuple(dices),
        voxel_dice, round(sum(float(m.sum()) for m in false) * voxel_ml, 1),
        round(false_negative_ml, 1), len(result.lesions.physiological), round(seconds, 1),
        blood_pool_placement(labels, result))


def blood_pool_placement(labels: np.ndarray, result: PipelineResult) -> str:
    """"thoracic" when the blood-pool cylinder's centre is in the true aorta at the level of
    the true heart (the descending thoracic aorta), else where it is."""
    pool = next((r for r in result.references if r.name is ReferenceKind.BLOOD_POOL), None)
    if pool is None:
        return "none"
    heart = np.nonzero((labels == BY_NAME["heart"].label).any(axis=(1, 2)))[0]
    z = pool.centre_index[0]
    in_aorta = labels[pool.centre_index] == BY_NAME["aorta"].label
    at_heart = len(heart) > 0 and heart.min() <= z <= heart.max()
    if in_aorta and at_heart:
        return "thoracic"
    return "aorta, not at the heart" if in_aorta else "outside the aorta"


def summary_table(scores: Sequence[LesionCaseScore]) -> str:
    """Per-case rows and the totals the acceptance asks for."""
    lines = ["| case | truth | eligible found | reported | false pos. | Dice (detected) | "
             "voxel Dice | FP ml | FN ml | set aside | blood pool | s |", "|" + "---|" * 12]
    for s in scores:
        mean_dice = f"{statistics.mean(s.dice_detected):.2f}" if s.dice_detected else "-"
        voxel = "-" if s.voxel_dice is None else f"{s.voxel_dice:.2f}"
        lines.append(f"| {s.case} | {s.truth_lesions} | {s.eligible_found}/{s.eligible} | "
                     f"{s.reported} | {s.false_positives} | {mean_dice} | {voxel} | "
                     f"{s.false_positive_ml:.1f} | {s.false_negative_ml:.1f} | "
                     f"{s.physiological_set_aside} | {s.blood_pool} | {s.seconds:.0f} |")
    eligible = sum(s.eligible for s in scores)
    found = sum(s.eligible_found for s in scores)
    all_dice = [d for s in scores for d in s.dice_detected]
    voxels = [s.voxel_dice for s in scores if s.voxel_dice is not None]
    lines += ["", f"- Lesion-wise sensitivity (>= {ELIGIBLE_ML:g} ml, SUVmax >= "
                  f"{ELIGIBLE_LIVER_RATIO:g} x liver mean): {found}/{eligible}"
                  + (f" = {100 * found / eligible:.0f} %" if eligible else ""),
              f"- False-positive lesions per study: "
              f"{statistics.mean(s.false_positives for s in scores):.2f} (mean), "
              f"{statistics.median(s.false_positives for s in scores):g} (median)",
              "- Dice over detected lesions: "
              + (f"{statistics.mean(all_dice):.2f} mean, {statistics.median(all_dice):.2f} "
                 f"median ({len(all_dice)} lesions)" if all_dice else "none detected"),
              f"- autoPET figures: voxel Dice {statistics.mean(voxels):.2f} (mean over studies "
              f"with lesions), FP volume {statistics.mean(s.false_positive_ml for s in scores):.1f}"
              f" ml, FN volume {statistics.mean(s.false_negative_ml for s in scores):.1f} ml "
              f"(means per study)" if voxels else "- autoPET figures: no study with lesions",
              f"- Blood pool in the descending thoracic aorta at the heart's level: "
              f"{sum(s.blood_pool == 'thoracic' for s in scores)}/{len(scores)}",
              f"- Median time per study: {statistics.median(s.seconds for s in scores):.0f} s "
              f"(whole pipeline, organs and lesions)"]
    return "\n".join(lines)


def write_report(scores: Sequence[LesionCaseScore], out: Path, title: str) -> str:
    """Write ``out`` (Markdown) and ``out.json``; returns the table."""
    return save_table(summary_table(scores), scores, out, title)
