"""A reader's review of one study: each finding accepted, rejected or relabelled, corrected with
clicks or added with one, every step undoable, and the study measured again from the result.

The draft starts from a finished run (:class:`outputs.reload.SavedRun`) and holds the study's
image in a predictor, so a click is one SegAnyPET decoder pass on a cached embedding
(:func:`model.correction.corrected_mask`). Masks are immutable :class:`BoxMask` values: the
undo history holds the findings as they were before each step, sharing their masks.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
from pydicom.uid import generate_uid

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.volume import VolumeInput, points_of_voxels
from seganypet_node.lesions.delineate import LesionMask, a50_level, lesion_at_click
from seganypet_node.lesions.results import Delineation
from seganypet_node.model.correction import corrected_mask
from seganypet_node.model.crop import CropGrid
from seganypet_node.model.prediction import Prompt
from seganypet_node.model.predictor import SegAnyPETPredictor
from seganypet_node.organs import ORGANS, organ
from seganypet_node.pipeline.findings import (
    LESION,
    CorrectionAction,
    DraftError,
    Finding,
    FindingKind,
    FindingStatus,
    Step,
    automatic_name,
)
from seganypet_node.pipeline.remeasure import KeptLesion, remeasured
from seganypet_node.pipeline.results import OrganResult, PipelineResult

REJECTED_REASON = "rejected by the reader"
EMPTIED_REASON = "the reader's corrections left no voxel"
MAX_STEPS = 500  # undo history kept per study


class StudyDraft:
    """The review of one study.

    Parameters
    ----------
    base : PipelineResult
        The finished run (organs with masks; figures are measured again).
    lesions : sequence of KeptLesion
        Its lesions.
    volume : VolumeInput
        The study as read from its series.
    suv : SimpleITK.Image
        The image the run segmented (:func:`pipeline.run.suv_like`).
    predictor : SegAnyPETPredictor
        Used by this draft alone; its image is set here.
    """

    def __init__(self, base: PipelineResult, lesions: Sequence[KeptLesion],
                 volume: VolumeInput, suv: sitk.Image, predictor: SegAnyPETPredictor) -> None:
        self.base, self.volume, self.suv, self.predictor = base, volume, suv, predictor
        predictor.set_image(suv)
        shape = tuple(suv.GetSize()[::-1])
        found = [Finding(o.organ, o.organ, o.mask) for o in base.organs if o.mask is not None]
        found += [Finding(f"lesion_{n}", LESION, BoxMask.of(k.mask.mask, k.mask.box, shape),
                          lesion=k if k.tracking_uid else dataclasses.replace(
                              k, tracking_uid=generate_uid()))
                  for n, k in enumerate(lesions, start=1)]
        self._findings: tuple[Finding, ...] = tuple(found)
        self._history: list[tuple[Finding, ...]] = []
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self._result: PipelineResult | None = None
        self._embedded: list[CropGrid] = []

    def warm_up(self, stop: threading.Event | None = None) -> int:
        """Embed the crops clicks on the findings will most likely use (one per finding,
        three along a tall one), so a first click costs a decoder pass; returns how many.
        Run it beside the page (it takes the draft's lock only to read the findings)."""
        with self._lock:
            masks = [f.mask for f in self._findings if f.mask.any()]
        for mask in masks:
            for point in _warm_points(self.suv, mask, self.predictor.crop_at((0, 0, 0))):
                if stop is not None and stop.is_set():
                    return len(self._embedded)
                grid = self.predictor.crop_at(point)
                self.predictor.embed_crop(grid)
                self._embedded.append(grid)
        return len(self._embedded)

    @property
    def values(self) -> np.ndarray:
        """The segmented image's voxels [z, y, x] (a view, not a copy)."""
        return sitk.GetArrayViewFromImage(self.suv)

    @property
    def head_first(self) -> bool:
        """Whether the first slice is the most superior (patient z falls along the slices)."""
        return float(self.suv.GetDirection()[8]) < 0

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self._findings

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    @property
    def changed(self) -> bool:
        """Whether the result differs from the automatic run's."""
        return any(f.changed for f in self._findings)

    def finding(self, key: str) -> Finding:
        for found in self._findings:
            if found.key == key:
                return found
        raise DraftError(f"no finding {key!r} in this study")

    def set_status(self, key: str, status: FindingStatus) -> Step:
        """Accept or reject a finding."""
        action = {FindingStatus.ACCEPTED: CorrectionAction.ACCEPT,
                  FindingStatus.REJECTED: CorrectionAction.REJECT}.get(status)
        if action is None:
            raise DraftError(f"a finding cannot be set back to {status.value}")
        with self._lock:
            found = self.finding(key)
            return self._apply(action, key, f"{found.name}: {status.value}",
                               dataclasses.replace(found, status=status))

    def relabel(self, key: str, name: str) -> Step:
        """Call a finding another organ, or a lesion (``"lesion"``)."""
        if name != LESION:
            try:
                organ(name)
            except KeyError as exc:
                raise DraftError(str(exc.args[0])) from None
        with self._lock:
            found = self.finding(key)
            taken = [f for f in self._findings if f.name == name and f.key != key
                     and f.status is not FindingStatus.REJECTED]
            if name != LESION and taken:
                raise DraftError(f"{name} is already a finding; reject or relabel it first")
            lesion = found.lesion
            if name == LESION and lesion is None:
                lesion = KeptLesion(LesionMask(found.mask.box, found.mask.local,
                                               _hottest(self.suv, found.mask),
                                               Delineation.CORRECTED), generate_uid())
            return self._apply(CorrectionAction.RELABEL, key, f"{found.name} -> {name}",
                               dataclasses.replace(found, name=name, lesion=lesion,
                                                   status=FindingStatus.ACCEPTED))

    def click(self, key: str, point: Sequence[float], positive: bool) -> Step:
        """A corrective click on a finding (patient LPS mm), answered by SegAnyPET."""
        with self._lock:
            found = self.finding(key)
            start = time.perf_counter()
            prompt = Prompt((float(point[0]), float(point[1]), float(point[2])), positive)
            try:
                answer = corrected_mask(self.predictor, found.mask, prompt, found.crops,
                                        tuple(self._embedded), self._floor(found))
            except ValueError as exc:
                raise DraftError(str(exc)) from None
            action = (CorrectionAction.POSITIVE_CLICK if positive
                      else CorrectionAction.NEGATIVE_CLICK)
            detail = (f"{found.name}: {'added' if positive else 'removed'} "
                      f"{answer.changed_voxels} voxel(s)")
            return self._apply(action, key, detail, dataclasses.replace(
                found, mask=answer.mask, clicks=(*found.clicks, prompt), crops=answer.crops,
                status=FindingStatus.ACCEPTED), start, answer.changed_voxels)

    def add_lesion(self, point: Sequence[float]) -> Step:
        """A lesion the run missed, delineated from one click as the search delineates."""
        with self._lock:
            start = time.perf_counter()
            try:
                mask = lesion_at_click(self.suv, point, self.predictor)
            except ValueError as exc:
                raise DraftError(str(exc)) from None
            number = 1 + sum(f.added for f in self._findings)
            held = BoxMask.of(mask.mask, mask.box, tuple(self.suv.GetSize()[::-1]))
            added = Finding(f"added_{number}", LESION, held, FindingStatus.ACCEPTED, True,
                            lesion=KeptLesion(mask, generate_uid()))
            self._history.append(self._findings)
            self._findings = (*self._findings, added)
            return self._record(Step(CorrectionAction.ADD_LESION, added.key,
                                     f"lesion of {held.voxels} voxel(s)",
                                     time.perf_counter() - start, held.voxels))

    def add_organ(self, name: str, point: Sequence[float]) -> Step:
        """An organ the run did not report, segmented by SegAnyPET from one click on it (the
        interactive path: its borders followed into neighbouring crops)."""
        try:
            organ(name)
        except KeyError as exc:
            raise DraftError(str(exc.args[0])) from None
        with self._lock:
            if any(f.name == name and f.status is not FindingStatus.REJECTED
                   for f in self._findings):
                raise DraftError(f"{name} is already a finding; correct it with clicks")
            start = time.perf_counter()
            prompt = Prompt((float(point[0]), float(point[1]), float(point[2])))
            try:
                prediction = self.predictor.predict([prompt])
            except ValueError as exc:
                raise DraftError(str(exc)) from None
            held = BoxMask.of(prediction.local_mask(), prediction.box,
                              tuple(self.suv.GetSize()[::-1]))
            if not held.any():
                raise DraftError(f"SegAnyPET found no {name} at the click")
            added = Finding(f"added_{name}", name, held, FindingStatus.ACCEPTED, True)
            self._history.append(self._findings)
            self._findings = (*(f for f in self._findings if f.key != added.key), added)
            return self._record(Step(CorrectionAction.ADD_ORGAN, added.key,
                                     f"{name} of {held.voxels} voxel(s)",
                                     time.perf_counter() - start, held.voxels))

    def undo(self) -> Step:
        """Take the last step back."""
        with self._lock:
            if not self._history:
                raise DraftError("there is nothing to undo")
            self._findings = self._history.pop()
            undone = next((s for s in reversed(self._steps)
                           if s.action is not CorrectionAction.UNDO), None)
            detail = f"undid {undone.action.value} of {undone.finding}" if undone else ""
            self._steps = [s for s in self._steps if s is not undone]
            return self._record(Step(CorrectionAction.UNDO, undone.finding if undone else "",
                                     detail, 0.0))

    def result(self) -> PipelineResult:
        """The study measured from the findings as they are now (cached until a change)."""
        with self._lock:
            if self._result is None:
                self._result = remeasured(self.base, self.volume, self.suv,
                                          self._organs(), self._lesions())
            return self._result

    def _floor(self, found: Finding) -> float | None:
        """The least uptake a positive click may add to a lesion: its A50 level (background
        plus half the contrast, as the lesion search delineates); none for organs."""
        if found.kind is not FindingKind.LESION or not found.mask.any():
            return None
        return a50_level(self.values, found.mask, self.suv.GetSpacing()[::-1])

    def _apply(self, action: CorrectionAction, key: str, detail: str, new: Finding,
               start: float | None = None, voxels: int = 0) -> Step:
        self._history.append(self._findings)
        self._findings = tuple(new if f.key == key else f for f in self._findings)
        seconds = 0.0 if start is None else time.perf_counter() - start
        return self._record(Step(action, key, detail, seconds, voxels))

    def _record(self, step: Step) -> Step:
        self._steps.append(step)
        del self._history[:-MAX_STEPS]
        self._result = None
        return step

    def _organs(self) -> list[OrganResult]:
        """Every organ of the run, in catalogue order, as the reader left it."""
        base = {o.organ: o for o in self.base.organs}
        kept = {f.name: f for f in self._findings
                if f.kind is FindingKind.ORGAN and f.status is not FindingStatus.REJECTED}
        rejected = {f.key for f in self._findings if f.status is FindingStatus.REJECTED}
        relabelled = {f.key for f in self._findings if f.name != automatic_name(f.key)}
        organs = []
        for entry in ORGANS:
            name = entry.name
            if name not in base and name not in kept:
                continue
            automatic = base.get(name) or OrganResult(name, None, None, ())
            if name in kept:
                mask = kept[name].mask
                organs.append(dataclasses.replace(
                    automatic, mask=mask if mask.any() else None,
                    reason=None if mask.any() else EMPTIED_REASON, withheld=None))
            elif name in rejected or name in relabelled:
                organs.append(dataclasses.replace(automatic, mask=None, reason=REJECTED_REASON
                                                  if name in rejected else "relabelled by "
                                                  "the reader", withheld=None))
            else:
                organs.append(automatic)
        return organs

    def _lesions(self) -> list[KeptLesion]:
        kept = []
        for found in self._findings:
            if (found.kind is not FindingKind.LESION or found.status is FindingStatus.REJECTED
                    or not found.mask.any() or found.lesion is None):
                continue
            mask = found.lesion.mask
            if found.clicks:
                mask = LesionMask(found.mask.box, found.mask.local,
                                  _hottest(self.suv, found.mask), Delineation.CORRECTED,
                                  mask.note)
            kept.append(KeptLesion(mask, found.lesion.tracking_uid))
        return kept


def _warm_points(image: sitk.Image, mask: BoxMask, crop: CropGrid
                 ) -> list[tuple[float, float, float]]:
    """Where to centre crops for clicks on ``mask``: its centroid, and for a mask taller
    than 60 % of a crop the centroids of its upper and lower quarters too."""
    indices = mask.indices()
    points = points_of_voxels(image, indices)
    chosen = [points.mean(axis=0)]
    height = float(np.ptp(points[:, 2]))
    if height > 0.6 * crop.extent_mm:
        z = points[:, 2]
        chosen += [points[z >= np.quantile(z, 0.75)].mean(axis=0),
                   points[z <= np.quantile(z, 0.25)].mean(axis=0)]
    return [(float(p[0]), float(p[1]), float(p[2])) for p in chosen]


def _hottest(image: sitk.Image, mask: BoxMask) -> tuple[int, int, int]:
    """The hottest voxel of ``mask`` (the click a lesion is measured from)."""
    values = mask.values_in(sitk.GetArrayViewFromImage(image))
    index = mask.indices()[int(np.argmax(values))]
    return (int(index[0]), int(index[1]), int(index[2]))
