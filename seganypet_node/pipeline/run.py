"""One PET volume in, organ masks and measurements out: atlas prompts, SegAnyPET, clean-up.

Steps: registration to the atlas, landmark prompts checked against the image, SegAnyPET per
organ (crops on a lattice, so organs close together share encoder passes), each voxel given
to the organ with the highest logit, the pieces holding a positive prompt kept (else the
largest), measurements.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from seganypet_node.atlas.assets import Atlas, load_atlas
from seganypet_node.atlas.prompts import OrganPrompts, checked_prompts
from seganypet_node.atlas.register import (
    Registration,
    normalised_uptake,
    register_normalised,
    tissue_level,
)
from seganypet_node.atlas.subjects import patient_landmarks
from seganypet_node.config import Config, resource_dir
from seganypet_node.imaging.boxes import Box, BoxMask, overlap, placed_in
from seganypet_node.imaging.volume import VolumeInput
from seganypet_node.lesions.results import NOT_ASSESSED
from seganypet_node.lesions.search import LesionOptions
from seganypet_node.measure.uptake import uptake_in_box
from seganypet_node.model.checkpoint import LoadedModel, ModelIdentity
from seganypet_node.model.configured import (
    load_configured_model,
    load_lesion_model,
    runtime_options,
)
from seganypet_node.model.engine import SamEngine
from seganypet_node.model.pieces import prompted_pieces
from seganypet_node.model.prediction import Prompt
from seganypet_node.model.predictor import SegAnyPETPredictor
from seganypet_node.pipeline.lesion_stage import lesion_stage
from seganypet_node.pipeline.memory import return_freed_memory_promptly
from seganypet_node.pipeline.references import measured_values, reference_regions
from seganypet_node.pipeline.results import (
    OrganResult,
    PipelineOptions,
    PipelineResult,
    Progress,
    Segmented,
)
from seganypet_node.pipeline.timings import Stage, Timings
from seganypet_node.plausibility import judge_masks

DEFAULT_ATLAS_DIR = "atlas"  # inside models/
TYPICAL_TISSUE_SUV = 0.7  # scales a volume without SUV so that prompt checks still apply


class OrganPipeline:
    """Atlas, predictor and options, reused for every volume a worker sees.

    Parameters
    ----------
    predictor : SegAnyPETPredictor
        The network behind a predictor (one per thread: it holds the current image).
    atlas : Atlas
        Reference volume and landmarks.
    options : PipelineOptions
        Organs and tuning.
    model : ModelIdentity, optional
        The network's checkpoint file, hash and form (reported with every result).
    lesion_predictor : SegAnyPETPredictor, optional
        A network for lesions (the lesion checkpoint); by default the organs' one.
    """

    def __init__(self, predictor: SegAnyPETPredictor, atlas: Atlas,
                 options: PipelineOptions | None = None,
                 model: ModelIdentity | None = None,
                 lesion_predictor: SegAnyPETPredictor | None = None) -> None:
        self.predictor = predictor
        self.atlas = atlas
        self.options = options or PipelineOptions()
        self.model = model
        self.lesion_predictor = lesion_predictor

    @property
    def checkpoint_name(self) -> str:
        """File name of the network's checkpoint ("" when not known)."""
        return self.model.checkpoint if self.model else ""

    def run(self, volume: VolumeInput, progress: Progress | None = None,
            timings: Timings | None = None) -> PipelineResult:
        """Segment and measure every configured organ (``timings``: stages the caller ran
        first, e.g. reading the series, which the result's timings begin with).

        Raises
        ------
        seganypet_node.atlas.register.RegistrationError
            When the volume cannot be aligned with the atlas.
        """
        timings = Timings(timings.entries if timings else ())
        with timings.timed(Stage.REGISTRATION):
            suv = suv_like(volume)
            moving = normalised_uptake(suv)  # once: the mean atlas and every subject use it
            registration = register_normalised(self.atlas.normalised, moving,
                                               self.options.deformable)
            placed = patient_landmarks(self.atlas, registration, moving,
                                       self.options.atlas_subjects)
            registration = replace(registration, subjects_used=placed.subjects_used)
            prompts = checked_prompts(placed.landmarks, self.options.organs, suv)
        return self._segment_suv(volume, suv, prompts, registration, progress, timings)

    def segment(self, volume: VolumeInput, prompts: dict[str, OrganPrompts],
                progress: Progress | None = None) -> PipelineResult:
        """Segment and measure with given prompts (ideal ones in evaluation), no registration."""
        return self._segment_suv(volume, suv_like(volume), prompts, None, progress, Timings())

    def _segment_suv(self, volume: VolumeInput, suv: sitk.Image,
                     prompts: dict[str, OrganPrompts], registration: Registration | None,
                     progress: Progress | None, timings: Timings) -> PipelineResult:
        self.predictor.set_image(suv)
        segmented = self._segment(prompts, progress)
        for name, seconds in segmented.seconds.items():
            timings.add(Stage.INFERENCE.of(name), seconds)
        with timings.timed(Stage.MEASUREMENTS):
            results = checked_results(self._results(volume, suv, prompts, segmented), volume,
                                      suv, segmented.warnings)
        del segmented  # the owner volume (1 byte a voxel) is not needed past the masks
        search = NOT_ASSESSED
        if self.options.lesions.enabled:
            if progress is not None:
                progress("looking for lesions", len(self.options.organs), len(self.options.organs))
            with timings.timed(Stage.LESIONS):
                predictor = self.lesion_predictor or self.predictor
                if predictor is not self.predictor:
                    predictor.set_image(suv)
                results, references, search = lesion_stage(volume, suv, results, predictor,
                                                           self.options.lesions)
        else:
            references = reference_regions(volume, suv, results)
        return PipelineResult(tuple(results), registration, volume.measured_unit,
                              timings.entries, references, search, model=self.model,
                              atlas=str(self.atlas.meta.get("description", "")))

    def _segment(self, prompts: dict[str, OrganPrompts], progress: Progress | None
                 ) -> Segmented:
        """Every organ's network answer, merged into one owner label per voxel."""
        shape = self.predictor.image.GetSize()[::-1]
        owner = np.zeros(shape, np.uint8)
        answered: list[tuple[Box, np.ndarray]] = []  # each organ's logits on its own box
        boxes: dict[str, Box] = {}
        seconds: dict[str, float] = {}
        warnings: dict[str, tuple[str, ...]] = {}
        skipped: dict[str, str] = {}
        names = self.options.organs
        deadline = time.perf_counter() + self.options.max_inference_s
        for number, name in enumerate(names, start=1):
            if progress is not None:
                progress(f"segmenting {name}", number - 1, len(names))
            if not prompts[name].found:
                continue
            start = time.perf_counter()
            if start > deadline:
                skipped[name] = (f"not segmented: the study's inference bound of "
                                 f"{self.options.max_inference_s:g} s ([pipeline] "
                                 f"max_inference_s) was reached")
                continue
            prediction = self.predictor.predict_points(prompts[name].prompts,
                                                       self.options.lattice_mm)
            if len(prediction.crops) >= self.predictor.max_windows:
                warnings[name] = (f"used all {self.predictor.max_windows} windows allowed per "
                                  f"organ ({len(prediction.crops)} crops): the mask may be cut",)
            logits, box = prediction.local_logits, prediction.box
            claim = (logits > 0) & (logits > best_logits(answered, box))
            owner[box][claim] = number
            positive = BoxMask.of(logits > 0, box, shape)  # logits <= 0 never win a voxel
            if positive.any():
                answered.append((positive.box, placed_in(positive.box, logits, box)))
                boxes[name] = positive.box
            seconds[name] = time.perf_counter() - start
        if progress is not None:
            progress("segmented", len(names), len(names))
        return Segmented(owner, boxes, seconds, warnings, skipped)

    def _results(self, volume: VolumeInput, suv: sitk.Image, prompts: dict[str, OrganPrompts],
                 segmented: Segmented) -> list[OrganResult]:
        measured = measured_values(volume, suv)
        unit = volume.measured_unit
        spacing = suv.GetSpacing()[::-1]
        seconds = segmented.seconds
        results = []
        for number, name in enumerate(self.options.organs, start=1):
            organ_prompts = prompts[name]
            reason = organ_prompts.reason or segmented.skipped.get(name)
            if reason is not None:
                results.append(OrganResult(name, None, None, (), reason, organ_prompts.rejected))
                continue
            mask = _organ_mask(segmented, name, number, organ_prompts.prompts, suv)
            if mask is None:
                results.append(OrganResult(
                    name, None, None, organ_prompts.prompts,
                    "SegAnyPET found nothing at the prompts", organ_prompts.rejected,
                    seconds.get(name, 0.0)))
                continue
            results.append(OrganResult(name, mask, uptake_in_box(measured, mask, spacing, unit),
                                       organ_prompts.prompts, None, organ_prompts.rejected,
                                       seconds.get(name, 0.0)))
        return results


def _organ_mask(segmented: Segmented, name: str, number: int, prompts: tuple[Prompt, ...],
                suv: sitk.Image) -> BoxMask | None:
    """The voxels the organ won, in the pieces its prompts hold, on its own box."""
    box = segmented.boxes.get(name)
    if box is None:
        return None
    won = segmented.owner[box] == number
    kept = prompted_pieces(won, prompts, suv, offset=[b.start for b in box])
    mask = BoxMask.of(kept, box, segmented.owner.shape)
    return mask if mask.any() else None


def best_logits(answered: list[tuple[Box, np.ndarray]], box: Box) -> np.ndarray:
    """The highest logit any earlier organ gave each voxel of ``box`` (-inf where none looked).

    Kept per organ on its box, not as one full-volume float array (0.5 GB at 2 mm).
    """
    best = np.full([b.stop - b.start for b in box], -np.inf, np.float32)
    for earlier, logits in answered:
        met = overlap(box, earlier)
        if met is not None:
            here, there = met
            np.maximum(best[here], logits[there], out=best[here])
    return best


def checked_results(results: list[OrganResult], volume: VolumeInput, suv: sitk.Image,
                    warnings: Mapping[str, tuple[str, ...]]) -> list[OrganResult]:
    """The organs that fail a plausibility rule become not found, with the rule and figures;
    every organ gets the bounds it reached as warnings."""
    masks = {o.organ: o.mask for o in results if o.mask is not None}
    verdicts = judge_masks(masks, measured_values(volume, suv), suv, *volume.body_size,
                           uptake_in_suv=volume.suvbw is not None)
    checked = []
    for result in results:
        result = replace(result, warnings=warnings.get(result.organ, ()))
        verdict = verdicts.get(result.organ)
        if verdict is not None and not verdict.plausible:
            result = replace(result, mask=None, stats=None, reason=verdict.failure,
                             withheld=result.mask)
        checked.append(result)
    return checked


def suv_like(volume: VolumeInput) -> sitk.Image:
    """SUVbw image, or without SUV the values scaled so soft tissue sits at a typical SUV."""
    values = volume.measured_image()
    if volume.suvbw is not None:
        return values
    level = tissue_level(sitk.GetArrayViewFromImage(values))
    return values * (TYPICAL_TISSUE_SUV / level)  # float32 times a number stays float32


def predictor_from_config(config: Config, cache_size: int | None = None
                          ) -> tuple[SegAnyPETPredictor, LoadedModel]:
    """The configured checkpoint on the configured device, behind a predictor
    (``cache_size``: crop embeddings kept, when not the runtime's default).

    Raises
    ------
    seganypet_node.model.checkpoint.CheckpointError
        The checkpoint cannot be loaded; the message names the file.
    """
    loaded = load_configured_model(config)
    options = runtime_options(config)
    if cache_size is not None:
        options = replace(options, cache_size=cache_size)
    return SegAnyPETPredictor(SamEngine(loaded.model, options)), loaded


def pipeline_from_config(config: Config, cache_size: int | None = None) -> OrganPipeline:
    """The configured network (on the configured device), atlas and organ list
    (``cache_size``: crop embeddings the network keeps, when not the runtime's default).

    Raises
    ------
    seganypet_node.model.checkpoint.CheckpointError, seganypet_node.atlas.assets.AtlasError
        The checkpoint or the atlas cannot be loaded; the message names the file.
    """
    return_freed_memory_promptly()
    predictor, loaded = predictor_from_config(config, cache_size)
    atlas = load_atlas(config.pipeline.atlas or resource_dir("models") / DEFAULT_ATLAS_DIR)
    lesions = config.lesions
    options = PipelineOptions(organs=config.pipeline.organs,
                              deformable=config.pipeline.deformable,
                              atlas_subjects=config.pipeline.atlas_subjects,
                              max_inference_s=config.pipeline.max_inference_s,
                              lesions=LesionOptions(
                                  enabled=lesions.enabled,
                                  fallback_threshold_suv=lesions.fallback_threshold_suv,
                                  min_volume_ml=lesions.min_volume_ml,
                                  max_count=lesions.max_count))
    lesion_model = load_lesion_model(config) if lesions.enabled else None
    lesion_predictor = None if lesion_model is None else \
        SegAnyPETPredictor(SamEngine(lesion_model.model, runtime_options(config)))
    return OrganPipeline(predictor, atlas, options, loaded.identity, lesion_predictor)
