"""Annotation efficiency, as the SegAnyPET paper and autoPET IV measure it: after the automatic
run, a simulated reader corrects each finding with clicks through the review page's own path
(:class:`pipeline.draft.StudyDraft`), each click at the deepest voxel of the largest error
region (positive for a miss, negative for excess); Dice after each click.

Organs start from the automatic masks; one the run did not report is added with one click at
its deepest voxel (that click counts). A true lesion the run found starts from its mask; one
it missed is added with one click at its hottest voxel (that click counts). A reported
lesion that covers no true lesion is rejected with one click. Held-out phantoms only: seeds
never used to train the network or build the atlas.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from seganypet_node.evaluation.clicks import centre_click
from seganypet_node.evaluation.metrics import dice
from seganypet_node.imaging.boxes import Box, BoxMask, mask_box, widened
from seganypet_node.imaging.units import Unit
from seganypet_node.imaging.volume import VolumeInput, as_image, point_of_voxel
from seganypet_node.lesions.delineate import LesionMask
from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.generate import PhantomSpec, generate_volume
from seganypet_node.pipeline import OrganPipeline
from seganypet_node.pipeline.draft import StudyDraft
from seganypet_node.pipeline.findings import DraftError, FindingStatus
from seganypet_node.pipeline.remeasure import KeptLesion
from seganypet_node.training.data import error_click

ANNOTATION_SEEDS_START = 9250  # held out: training uses 1000+ and 2000+, the atlas its own
LESION_LABELS = 101
REPORTED_CLICKS = (0, 1, 2, 3, 5, 10)
MARGIN_MM = 20.0  # the error regions are looked for in the truth's and mask's box this wide
TARGET_DICE = 0.9


@dataclass(frozen=True)
class Trace:
    """One finding corrected click by click: Dice after 0..n clicks, seconds per click."""

    study: str
    target: str  # an organ's name, or "lesion"
    dice: tuple[float, ...]
    seconds: tuple[float, ...]
    added: bool = False  # a missed lesion, added by the first click

    def dice_after(self, clicks: int) -> float:
        """Dice after ``clicks`` clicks (the last one when the reader stopped earlier)."""
        return self.dice[min(clicks, len(self.dice) - 1)]

    def clicks_to(self, target: float = TARGET_DICE) -> int | None:
        return next((n for n, d in enumerate(self.dice) if d >= target), None)


@dataclass
class StudyOutcome:
    """Every trace of one study, and what could not be traced."""

    traces: list[Trace] = field(default_factory=list)
    rejected_false_lesions: int = 0
    organs_not_found: list[str] = field(default_factory=list)


def annotation_specs(typical: int, hard: int) -> list[tuple[str, PhantomSpec]]:
    """Held-out studies: typical subjects with three lesions, and hard-population ones."""
    specs = [(f"typical {ANNOTATION_SEEDS_START + k}",
              PhantomSpec(seed=ANNOTATION_SEEDS_START + k, slices=380, matrix=160, lesions=3))
             for k in range(typical)]
    specs += [(f"hard {ANNOTATION_SEEDS_START + 50 + k}",
               PhantomSpec.hard(ANNOTATION_SEEDS_START + 50 + k)) for k in range(hard)]
    return specs


def correct_study(pipeline: OrganPipeline, name: str, spec: PhantomSpec, max_clicks: int = 10,
                  log: Callable[[str], None] = print) -> StudyOutcome:
    """Run the automatic pipeline on one phantom, then correct every finding with clicks."""
    phantom = generate_volume(spec)
    image = as_image(phantom.suv, phantom.grid.spacing, phantom.grid.origin)
    volume = VolumeInput(image, Unit.SUVBW)
    result = pipeline.run(volume)
    lesions = [KeptLesion(LesionMask(x.mask.box, x.mask.local, _index(x.mask),
                                     x.delineation), x.tracking_uid)
               for x in result.lesions.lesions]
    draft = StudyDraft(result, lesions, volume, image, pipeline.predictor)
    draft.warm_up()
    outcome = StudyOutcome()
    labels = phantom.labels
    for organ in result.organs:
        truth = labels == BY_NAME[organ.organ].label
        if truth.sum() < 30:
            continue
        if organ.found:
            outcome.traces.append(_trace(draft, name, organ.organ, organ.organ, truth, image,
                                         max_clicks))
            continue
        outcome.organs_not_found.append(organ.organ)
        try:
            step = draft.add_organ(organ.organ, centre_click(truth, image).point)
        except DraftError:
            outcome.traces.append(Trace(name, organ.organ, (0.0,), (), added=True))
            continue
        trace = _trace(draft, name, step.finding, organ.organ, truth, image, max_clicks - 1)
        outcome.traces.append(Trace(name, organ.organ, (0.0, *trace.dice),
                                    (step.seconds, *trace.seconds), added=True))
    _lesion_traces(draft, name, labels, image, max_clicks, outcome)
    first = statistics.mean(t.dice[0] for t in outcome.traces)
    last = statistics.mean(t.dice_after(max_clicks) for t in outcome.traces)
    log(f"{name}: {len(outcome.traces)} findings, mean Dice {first:.3f} -> {last:.3f} after "
        f"{max_clicks} clicks")
    return outcome


def _lesion_traces(draft: StudyDraft, name: str, labels: np.ndarray, image: sitk.Image,
                   max_clicks: int, outcome: StudyOutcome) -> None:
    values = sitk.GetArrayViewFromImage(image)
    truths = [labels == v for v in np.unique(labels[labels >= LESION_LABELS])]
    reported = [f for f in draft.findings if f.name == "lesion"]
    for finding in reported:
        if not any(t[finding.mask.box][finding.mask.local].any() for t in truths):
            draft.set_status(finding.key, FindingStatus.REJECTED)
            outcome.rejected_false_lesions += 1
    for truth in truths:
        hit = next((f for f in reported if truth[f.mask.box][f.mask.local].any()), None)
        if hit is not None:
            outcome.traces.append(_trace(draft, name, hit.key, "lesion", truth, image,
                                         max_clicks))
            continue
        hottest = np.unravel_index(int(np.argmax(np.where(truth, values, -np.inf))), truth.shape)
        step = draft.add_lesion(point_of_voxel(image, [int(v) for v in hottest]))
        trace = _trace(draft, name, step.finding, "lesion", truth, image, max_clicks - 1)
        outcome.traces.append(Trace(name, "lesion", (0.0, *trace.dice),
                                    (step.seconds, *trace.seconds), added=True))


def _trace(draft: StudyDraft, study: str, key: str, target: str, truth: np.ndarray,
           image: sitk.Image, clicks: int) -> Trace:
    scores, seconds = [], []
    for _ in range(clicks + 1):
        mask = draft.finding(key).mask
        box = _box(mask, truth, image)
        local, expected = mask.within(box), truth[box]
        scores.append(dice(local, expected))
        if len(scores) > clicks:
            break
        found = error_click(local, expected)
        if found is None:
            break
        index, positive = found
        at = [int(i) + b.start for i, b in zip(index, box, strict=True)]
        seconds.append(draft.click(key, point_of_voxel(image, at), positive).seconds)
    return Trace(study, target, tuple(scores), tuple(seconds))


def _box(mask: BoxMask, truth: np.ndarray, image: sitk.Image) -> Box:
    boxes = [b for b in (mask_box(truth), mask.box if mask.any() else None) if b is not None]
    union = tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes))
                  for a in range(3))
    return widened(union, truth.shape, image.GetSpacing()[::-1], MARGIN_MM)


def _index(mask: BoxMask) -> tuple[int, int, int]:
    first = mask.indices()[0]
    return (int(first[0]), int(first[1]), int(first[2]))


def summary_rows(traces: Sequence[Trace]) -> list[dict[str, Any]]:
    """Per target (each organ, lesions): mean Dice after 0, 1, 2, 3, 5, 10 clicks, median
    clicks to Dice 0.9 (and how many never reached it), median seconds per click."""
    rows = []
    for target in sorted({t.target for t in traces}, key=lambda n: (n == "lesion", n)):
        chosen = [t for t in traces if t.target == target]
        reached = [n for n in (t.clicks_to() for t in chosen) if n is not None]
        clicks_s = [s for t in chosen for s in t.seconds]
        rows.append({
            "target": target, "findings": len(chosen),
            **{f"dice_{n}": round(statistics.mean(t.dice_after(n) for t in chosen), 3)
               for n in REPORTED_CLICKS},
            "median_clicks_to_0.9": statistics.median(reached) if reached else None,
            "never_0.9": len(chosen) - len(reached),
            "median_s_per_click": round(statistics.median(clicks_s), 3) if clicks_s else None,
        })
    return rows
