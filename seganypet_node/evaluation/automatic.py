"""What the automatic pipeline achieves on held-out phantoms, and what the atlas costs.

Each case is segmented twice with the same network and post-processing: with atlas prompts
(registration, mapped and checked landmarks: the node's path) and with ideal prompts (the same
kind of landmarks taken from the subject's own ground truth). Cases cover partial axial
coverage, arms up and down, and subjects 20 % smaller and larger than the atlas population.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seganypet_node.atlas.landmarks import landmarks_from_labels
from seganypet_node.atlas.prompts import OrganPrompts
from seganypet_node.evaluation.clicks import save_table
from seganypet_node.evaluation.metrics import dice
from seganypet_node.imaging.units import Unit
from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.model.prediction import Prompt
from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.generate import PhantomSpec
from seganypet_node.phantom.subject import TEMPLATE_HEIGHT_MM
from seganypet_node.pipeline import OrganPipeline, PipelineResult

PIPELINE_SEEDS_START = 9100
HARD_SEEDS_START = 9300  # the hard population (phantom.variations); training uses 2000+
HARD_SEEDS_END = 9999
# A reported organ below this Dice is wrong; one at or above the second is good.
WRONG_DICE, GOOD_DICE = 0.3, 0.7


@dataclass(frozen=True)
class Case:
    """One held-out subject and what is unusual about it."""

    name: str
    seed: int
    coverage: str = "vertex"
    arms_up: bool | None = None
    size: float | None = None  # height and girth relative to the atlas population
    hard: bool = False  # drawn from the hard population (PhantomSpec.hard)

    def spec(self) -> PhantomSpec:
        """The phantom this case segments."""
        if self.hard:
            return PhantomSpec.hard(self.seed)
        size = {} if self.size is None else {"height_mm": TEMPLATE_HEIGHT_MM * self.size,
                                             "girth": self.size}
        return PhantomSpec(seed=self.seed, slices=380, matrix=160, coverage=self.coverage,
                           arms_up=self.arms_up, **size)  # type: ignore[arg-type]


def hard_cases(count: int, first: int = HARD_SEEDS_START) -> tuple[Case, ...]:
    """``count`` held-out subjects of the hard population, named by what they show."""
    if not HARD_SEEDS_START <= first < HARD_SEEDS_END - count + 1:
        raise ValueError(f"hard evaluation seeds are {HARD_SEEDS_START}-{HARD_SEEDS_END}")
    return tuple(Case(f"{seed}: {describe(PhantomSpec.hard(seed))}", seed, hard=True)
                 for seed in range(first, first + count))


def describe(spec: PhantomSpec) -> str:
    """A short line of what a varied phantom shows (for tables)."""
    v = spec.variation
    if v is None:
        return "typical"
    parts = [f"{spec.voxel_mm:g}x{spec.slice_mm or spec.voxel_mm:g} mm",
             f"{v.top.value}-{v.bottom.value}", f"arms {v.arms.value}"]
    parts += [name for name, on in (("bowel", v.hot_bowel), ("ureters", v.ureters),
                                    ("catheter", v.catheter), ("muscle", v.muscle),
                                    ("brown fat", v.brown_fat),
                                    ("hyperglycaemia", v.hyperglycaemia),
                                    ("injection", v.injection_site)) if on]
    if v.myocardium.value != "usual":
        parts.append(f"myocardium {v.myocardium.value}")
    if v.effusion:
        parts.append(f"effusion {v.effusion}")
    parts += [f"{t.site.value} {t.volume_ml:g} ml" for t in v.tumours]
    return ", ".join(parts)


CASES = (
    Case("typical", PIPELINE_SEEDS_START),
    Case("skull base to thigh", PIPELINE_SEEDS_START + 1, coverage="skull_base"),
    Case("arms up", PIPELINE_SEEDS_START + 2, arms_up=True),
    Case("arms down", PIPELINE_SEEDS_START + 3, arms_up=False),
    Case("20% smaller", PIPELINE_SEEDS_START + 4, size=0.8),
    Case("20% larger", PIPELINE_SEEDS_START + 5, size=1.2),
)


@dataclass(frozen=True)
class CaseScore:
    """Dice of one organ in one case, with atlas and with ideal prompts.

    ``dice_atlas`` is the reported mask's (0 when not found); ``dice_withheld`` the Dice of
    the mask a plausibility rule kept from the report (None when none was withheld).
    """

    case: str
    organ: str
    dice_atlas: float
    dice_ideal: float
    atlas_note: str
    dice_withheld: float | None = None
    case_seconds: float = 0.0
    found: bool = True


def evaluate_cases(pipeline: OrganPipeline, cases: Sequence[Case] = CASES,
                   log: Callable[[str], None] = print) -> list[CaseScore]:
    """Score every case (a few seconds each on two CPU cores)."""
    from seganypet_node.imaging.volume import as_image
    from seganypet_node.phantom.generate import generate_volume

    scores: list[CaseScore] = []
    for case in cases:
        volume = generate_volume(case.spec())
        grid = volume.grid
        image = VolumeInput(as_image(volume.suv, grid.spacing, grid.origin), Unit.SUVBW)
        start = time.perf_counter()
        automatic = pipeline.run(image)
        seconds = time.perf_counter() - start
        ideal = pipeline.segment(image, _ideal_prompts(image, volume.labels, pipeline))
        scores += _score(case.name, volume.labels, automatic, ideal, seconds)
        mean = statistics.mean(s.dice_atlas for s in scores if s.case == case.name)
        log(f"{case.name}: mean Dice {mean:.3f} with atlas prompts ({seconds:.1f} s)")
    return scores


def _ideal_prompts(image: VolumeInput, labels: np.ndarray,
                   pipeline: OrganPipeline) -> dict[str, OrganPrompts]:
    from seganypet_node.imaging.volume import as_image

    truth = as_image(labels, image.values.GetSpacing(), image.values.GetOrigin())
    marks = landmarks_from_labels(truth, pipeline.options.organs)
    prompts = {}
    for name in pipeline.options.organs:
        if name not in marks:
            prompts[name] = OrganPrompts(name, (), ("absent from the ground truth",))
            continue
        points = [Prompt(p, True) for p in marks[name].positives]
        points += [Prompt(p, False) for p in marks[name].negatives]
        prompts[name] = OrganPrompts(name, tuple(points))
    return prompts


def _score(case: str, labels: np.ndarray, automatic: PipelineResult,
           ideal: PipelineResult, seconds: float) -> list[CaseScore]:
    scores = []
    for auto, best in zip(automatic.organs, ideal.organs, strict=True):
        truth = labels == BY_NAME[auto.organ].label
        if truth.sum() < 30:
            continue  # outside this subject's field of view
        empty = np.zeros_like(truth)
        note = "" if auto.found else f"not found: {auto.reason}"
        scores.append(CaseScore(
            case, auto.organ,
            dice(auto.mask.full() if auto.mask is not None else empty, truth),
            dice(best.mask.full() if best.mask is not None else empty, truth), note,
            None if auto.withheld is None else dice(auto.withheld.full(), truth), seconds,
            auto.found))
    return scores


def plausibility_summary(scores: Sequence[CaseScore]) -> str:
    """How the plausibility checks did: wrong organs reported, good organs withheld."""
    wrong = [s for s in scores if s.found and s.dice_atlas < WRONG_DICE]
    good_withheld = [s for s in scores if (s.dice_withheld or 0.0) >= GOOD_DICE]
    good = [s for s in scores if s.dice_atlas >= GOOD_DICE] + good_withheld
    caught = [s for s in scores if s.dice_withheld is not None and s.dice_withheld < WRONG_DICE]
    rate = len(good_withheld) / len(good) if good else 0.0
    seconds = [s.case_seconds for s in {s.case: s for s in scores}.values()]
    median = statistics.median(seconds)
    named = "; ".join(f"{s.case.split(':')[0]} {s.organ} {s.dice_atlas:.2f}" for s in wrong)
    lines = [
        f"- organs reported found with Dice < {WRONG_DICE}: {len(wrong)}"
        + (f" ({named})" if wrong else ""),
        f"- organs with Dice < {WRONG_DICE} withheld by the plausibility checks: {len(caught)}",
        f"- organs with Dice >= {GOOD_DICE} withheld: {len(good_withheld)} of {len(good)} "
        f"({100 * rate:.1f} %)",
        f"- automatic pipeline time per case: median {median:.1f} s, max {max(seconds):.1f} s "
        f"({max(seconds) / median:.2f}x the median)",
    ]
    return "\n".join(lines)


def summary_table(scores: Sequence[CaseScore]) -> str:
    """Markdown: mean Dice per organ with atlas and ideal prompts, the gap, then per case."""
    organs = list(dict.fromkeys(s.organ for s in scores))
    lines = ["| organ | cases | Dice atlas prompts | min | Dice ideal prompts | atlas cost |",
             "|---|---|---|---|---|---|"]
    atlas_means, ideal_means = [], []
    for name in organs:
        rows = [s for s in scores if s.organ == name]
        a = statistics.mean(r.dice_atlas for r in rows)
        i = statistics.mean(r.dice_ideal for r in rows)
        atlas_means.append(a)
        ideal_means.append(i)
        lines.append(f"| {name} | {len(rows)} | {a:.3f} | "
                     f"{min(r.dice_atlas for r in rows):.3f} | {i:.3f} | {i - a:+.3f} |")
    lines.append(f"| **mean over organs** | | **{statistics.mean(atlas_means):.3f}** | | "
                 f"**{statistics.mean(ideal_means):.3f}** | "
                 f"{statistics.mean(ideal_means) - statistics.mean(atlas_means):+.3f} |")
    lines += ["", "| case | organs | mean Dice atlas | mean Dice ideal | seconds | notes |",
              "|---|---|---|---|---|---|"]
    for case in dict.fromkeys(s.case for s in scores):
        rows = [s for s in scores if s.case == case]
        notes = "; ".join(f"{r.organ} {r.atlas_note}" for r in rows if r.atlas_note)
        lines.append(f"| {case} | {len(rows)} | "
                     f"{statistics.mean(r.dice_atlas for r in rows):.3f} | "
                     f"{statistics.mean(r.dice_ideal for r in rows):.3f} | "
                     f"{rows[0].case_seconds:.1f} | {notes} |")
    return "\n".join([*lines, "", plausibility_summary(scores)])


def write_report(scores: Sequence[CaseScore], out: Path, title: str) -> str:
    """``out`` (Markdown) and ``out.json``; returns the table."""
    return save_table(summary_table(scores), scores, out, title)
