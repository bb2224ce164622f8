"""What a pipeline run takes and gives: options, per-organ results, the study's result, and
where the study came from."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seganypet_node.atlas.register import Registration
from seganypet_node.imaging.boxes import Box, BoxMask, require_box_mask
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import NOT_ASSESSED, LesionSearch
from seganypet_node.lesions.search import LesionOptions
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.measure.uptake import UptakeStats
from seganypet_node.model.checkpoint import ModelIdentity
from seganypet_node.model.prediction import Prompt
from seganypet_node.organs import ORGANS, organ

DEFAULT_ORGANS = tuple(o.name for o in ORGANS)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunSource:
    """What a run segmented: the job and series it came from, or the files it was given.

    Attributes
    ----------
    job : int or None
        The node's job id (worker runs).
    series_instance_uid, study_instance_uid : str or None
        The series and study, when the input was DICOM.
    instances : int or None
        Instances read (worker runs).
    files : tuple of str
        The paths given to ``segment``.
    """

    job: int | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    instances: int | None = None
    files: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The fields that are known, JSON-ready (``summary.json``'s ``source``)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()
                if value is not None and value != ()}


@dataclass(frozen=True)
class PipelineOptions:
    """What to segment and how.

    Parameters
    ----------
    organs : tuple of str
        Catalogue names, in the order they are reported.
    lattice_mm : float
        Crop centres are rounded to this lattice so nearby organs share encoder passes.
    deformable : bool
        Add the coarse B-spline step to the affine registration.
    atlas_subjects : int
        Most atlas subjects whose landmarks are fused (0: the mean atlas's alone).
    max_inference_s : float
        Organs not started this long after the first are reported not segmented.
    lesions : LesionOptions
        Whether and how lesions are looked for after the organs.
    """

    organs: tuple[str, ...] = DEFAULT_ORGANS
    lattice_mm: float = 12.0
    deformable: bool = True
    atlas_subjects: int = 8
    max_inference_s: float = 1200.0
    lesions: LesionOptions = dataclasses.field(default_factory=LesionOptions)

    def __post_init__(self) -> None:
        for name in self.organs:
            organ(name)  # raises KeyError naming the known organs


@dataclass(frozen=True, eq=False)
class OrganResult:
    """One organ: its mask on the input grid and measurements, or why it was not found."""

    organ: str
    mask: BoxMask | None  # on the input grid, held on the organ's box
    stats: UptakeStats | None
    prompts: tuple[Prompt, ...]
    reason: str | None = None  # why not found
    rejected: tuple[str, ...] = ()  # landmarks dropped by the checks
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()  # bounds the organ reached, kept with the result
    withheld: BoxMask | None = None  # the mask a plausibility rule kept from the report
    # Lesions inside the organ (labels); ``stats`` then leave their voxels out.
    lesions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_box_mask(self.mask, f"{self.organ} mask")
        require_box_mask(self.withheld, f"{self.organ} withheld mask")

    @property
    def found(self) -> bool:
        return self.mask is not None


@dataclass(frozen=True, eq=False)
class Segmented:
    """The network's answers for a study: the organ owning each voxel (index in the organ
    list + 1, 0 for none), the box each organ's answer covers, seconds per organ, bounds
    reached, organs skipped with why."""

    owner: np.ndarray
    boxes: dict[str, Box]
    seconds: dict[str, float]
    warnings: dict[str, tuple[str, ...]]
    skipped: dict[str, str]


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """Every requested organ, the registration, the time of each stage, and what made it."""

    organs: tuple[OrganResult, ...]
    registration: Registration | None  # None when the prompts were given
    unit: Unit
    timings: tuple[tuple[str, float], ...]
    references: tuple[ReferenceRegion, ...] = ()
    lesions: LesionSearch = NOT_ASSESSED  # the lesions found, or why they were not assessed
    model: ModelIdentity | None = None  # the network's checkpoint (None when not known)
    atlas: str = ""  # the atlas's description

    @property
    def checkpoint_name(self) -> str:
        """File name of the network's checkpoint ("" when not known)."""
        return self.model.checkpoint if self.model else ""


