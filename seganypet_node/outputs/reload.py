"""A finished run read back from its result folder (``summary.json`` and the masks), so a
reader can review and correct it: organs with their masks or why they were not found,
lesions with their masks and tracking UIDs, how the lesion search ran."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from seganypet_node.errors import NodeError
from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.delineate import LesionMask
from seganypet_node.lesions.results import (
    Delineation,
    DetectionThreshold,
    LesionSearch,
    ThresholdRule,
)
from seganypet_node.model.prediction import Prompt
from seganypet_node.outputs.summary import SUMMARY_FILE
from seganypet_node.pipeline import PipelineResult
from seganypet_node.pipeline.remeasure import KeptLesion
from seganypet_node.pipeline.results import OrganResult


class SavedRunError(NodeError, ValueError):
    """A result folder cannot be read back; the message says what is missing or wrong."""


@dataclass(frozen=True, eq=False)
class SavedRun:
    """What a result folder holds: the run without its figures, and its lesions."""

    result: PipelineResult  # organs with masks (figures to be measured again)
    lesions: tuple[KeptLesion, ...]


def read_saved_run(folder: Path, grid: sitk.Image) -> SavedRun:
    """The run whose results are in ``folder``, its masks on ``grid`` (the input's grid).

    Raises
    ------
    SavedRunError
        No ``summary.json``, or a mask it names is missing or on another grid.
    """
    path = folder / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SavedRunError(f"{path.name} of the run cannot be read: {exc}") from None
    shape = tuple(grid.GetSize()[::-1])
    organs = tuple(_organ(name, entry, folder, shape) for name, entry
                   in summary.get("organs", {}).items())
    section = summary.get("lesions") or {"assessed": False}
    lesions = tuple(_lesion(entry, folder, grid) for entry in section.get("lesions", []))
    result = PipelineResult(organs, None, Unit(summary.get("unit", Unit.SUVBW.value)), (),
                            lesions=_search(section), atlas=summary["source"].get("atlas", ""))
    return SavedRun(result, lesions)


def _mask(folder: Path, relative: str, shape: tuple[int, ...]) -> BoxMask:
    path = folder / relative
    if not path.is_file():
        raise SavedRunError(f"the run's mask {relative} is missing")
    values = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if values.shape != shape:
        raise SavedRunError(f"the run's mask {relative} is {values.shape}, the series {shape}")
    return BoxMask.of(values > 0)


def _organ(name: str, entry: dict[str, Any], folder: Path, shape: tuple[int, ...]
           ) -> OrganResult:
    prompts = tuple(Prompt(tuple(p["point_lps_mm"]), bool(p["positive"]))
                    for p in entry.get("prompts", []))
    mask = _mask(folder, entry["mask"], shape) if entry.get("found") else None
    return OrganResult(name, mask, None, prompts, entry.get("reason"),
                       tuple(entry.get("rejected_landmarks", [])),
                       float(entry.get("seconds", 0.0)), tuple(entry.get("warnings", [])))


def _lesion(entry: dict[str, Any], folder: Path, grid: sitk.Image) -> KeptLesion:
    mask = _mask(folder, entry["mask"], tuple(grid.GetSize()[::-1]))
    click = grid.TransformPhysicalPointToIndex(tuple(float(v) for v in entry["click_lps_mm"]))
    index = tuple(int(v) for v in click[::-1])
    if not all(0 <= i < n for i, n in zip(index, mask.shape, strict=True)):
        index = tuple(int(v) for v in mask.indices()[0])
    delineation = next((d for d in Delineation if d.value == entry.get("delineation")),
                       Delineation.SEGANYPET)
    return KeptLesion(LesionMask(mask.box, mask.local, index, delineation,  # type: ignore[arg-type]
                                 entry.get("note")), entry.get("tracking_uid"))


def _search(section: dict[str, Any]) -> LesionSearch:
    threshold = section.get("threshold")
    rule = None if threshold is None else next(
        (r for r in ThresholdRule if r.value == threshold["rule"]), ThresholdRule.FALLBACK)
    return LesionSearch(
        bool(section.get("assessed")),
        threshold=None if threshold is None or rule is None else DetectionThreshold(
            float(threshold["value"]), rule, threshold.get("note")),
        excluded=tuple(section.get("excluded_organs", [])),
        not_excluded=tuple(section.get("not_excluded_organs", [])),
        dropped_small=int(section.get("dropped_small", 0)),
        capped=int(section.get("capped", 0)), reason=section.get("reason"),
        seconds=float(section.get("seconds", 0.0)))

