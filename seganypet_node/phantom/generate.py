"""One synthetic whole-body FDG PET study: DICOM series plus ground-truth labels."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import generate_uid
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE, ORGANS
from seganypet_node.phantom import template
from seganypet_node.phantom.anatomy import (
    BACKGROUND_NAMES,
    BONE,
    Grid,
    Painter,
    Subject,
    build_labels,
)
from seganypet_node.phantom.ct_series import write_ct_series
from seganypet_node.phantom.findings import paint_findings
from seganypet_node.phantom.pet_series import StudyIdentity, write_pet_series
from seganypet_node.phantom.physics import Acquisition, scanner, uptake_suv
from seganypet_node.phantom.subject import FieldOfView, subject_labels
from seganypet_node.phantom.variations import Acquisition3D, Myocardium, Variation

LESION_SITES = ("liver", "lung_left", "lung_right", "aorta", "bone_marrow")


@dataclass(frozen=True)
class PhantomSpec:
    """What to generate; the same spec (seed included) gives the same images."""

    seed: int
    slices: int = 300
    matrix: int = 168
    voxel_mm: float = 4.0
    lesions: int = 0
    fwhm_mm: float = 6.0
    counts_per_suv_ml: float = 150.0
    # "vertex" (top of the head down), "skull_base" (partial coverage) or "random".
    coverage: str = "vertex"
    # Override what the seed draws (evaluation of small, large, arms-up/down subjects).
    height_mm: float | None = None
    girth: float | None = None
    arms_up: bool | None = None
    # Slice spacing when it differs from the pixel size (``voxel_mm``).
    slice_mm: float | None = None
    # Pose, field ends, physiology and tumours beyond the typical phantom (``slices`` then
    # follows from the field's ends).
    variation: Variation | None = None

    @classmethod
    def hard(cls, seed: int, finest_mm: float = 1.6) -> PhantomSpec:
        """A subject of the hard population: pose, field, physiology, disease, body size and
        scanner all drawn from ``seed`` (pixels no finer than ``finest_mm``)."""
        rng = np.random.default_rng([seed, 19])
        scan = Acquisition3D.draw(rng, finest_mm)
        return cls(seed=seed, matrix=scan.matrix, voxel_mm=scan.pixel_mm,
                   slice_mm=scan.slice_mm, fwhm_mm=scan.fwhm_mm,
                   counts_per_suv_ml=scan.counts_per_suv_ml, lesions=0,
                   height_mm=float(rng.uniform(1450, 2000)), girth=float(rng.uniform(0.8, 1.45)),
                   variation=Variation.draw(rng))


@dataclass(frozen=True)
class PhantomStudy:
    """Where a generated study was written, and the facts it was generated from."""

    dicom_dir: Path
    files: tuple[Path, ...]
    labels_path: Path
    labels_json: Path
    acquisition: Acquisition
    identity: StudyIdentity


@dataclass(frozen=True, eq=False)
class PhantomVolume:
    """A generated subject in memory: reconstructed SUV, ground truth and acquisition."""

    suv: np.ndarray  # [z, y, x]
    labels: np.ndarray  # [z, y, x]
    grid: Grid
    acquisition: Acquisition
    seed: int


def generate_volume(spec: PhantomSpec) -> PhantomVolume:
    """Simulate one subject without writing anything (training reads these directly)."""
    rng = np.random.default_rng(spec.seed)
    subject = _overridden(Subject.draw(rng), spec)
    labels, grid = _anatomy(spec, subject, rng)
    if spec.variation is not None:
        paint_findings(labels, grid, spec.variation, np.random.default_rng([spec.seed, 23]))
    if spec.lesions:
        painter = Painter(grid, labels)
        for k, (centre, radius) in enumerate(_place_lesions(labels, grid, spec.lesions, rng), 1):
            painter.ellipsoid(LESION_LABEL_BASE + k, centre, (radius, radius, radius))
    ranges, fixed = _physiology(spec.variation)
    suv = scanner(uptake_suv(labels, grid.spacing, rng, ranges, fixed), grid.spacing,
                  spec.fwhm_mm, spec.counts_per_suv_ml, rng)
    day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
    acquisition = Acquisition.draw(rng, day, subject.height_mm, subject.girth)
    return PhantomVolume(suv, labels, grid, acquisition, spec.seed)


def _overridden(subject: Subject, spec: PhantomSpec) -> Subject:
    changes: dict[str, object] = {name: getattr(spec, name)
                                  for name in ("height_mm", "girth", "arms_up")
                                  if getattr(spec, name) is not None}
    if spec.variation is not None:
        scale = dict(subject.organ_scale, urinary_bladder=spec.variation.bladder_fill)
        changes["organ_scale"] = scale
    return dataclasses.replace(subject, **changes) if changes else subject  # type: ignore[arg-type]


# Myocardial SUV ranges by state, and the brain's under hyperglycaemia.
MYOCARDIUM_SUV = {Myocardium.LOW: (0.8, 2.0), Myocardium.HOT: (12.0, 25.0)}
HYPERGLYCAEMIC_BRAIN_SUV = (2.0, 4.5)


def _physiology(variation: Variation | None
                ) -> tuple[dict[int, tuple[float, float]], dict[int, float]]:
    """Tissue SUV ranges and fixed tumour values that ``variation`` changes."""
    if variation is None:
        return {}, {}
    ranges = {}
    if variation.myocardium in MYOCARDIUM_SUV:
        ranges[BY_NAME["heart"].label] = MYOCARDIUM_SUV[variation.myocardium]
    if variation.hyperglycaemia:
        ranges[BY_NAME["brain"].label] = HYPERGLYCAEMIC_BRAIN_SUV
    fixed = {LESION_LABEL_BASE + k: t.suv for k, t in enumerate(variation.tumours, start=1)}
    return ranges, fixed


def generate(spec: PhantomSpec, out: Path, ct: bool = False,
             reference_seg: bool = False) -> PhantomStudy:
    """Write ``out/dicom/``, ``out/labels.nii.gz``, ``out/labels.json``; with ``ct`` also
    ``out/ct/``, with ``reference_seg`` the ground truth as ``out/reference_seg.dcm``."""
    volume = generate_volume(spec)
    rng = np.random.default_rng([spec.seed, 1])
    identity = _identity(spec.seed, rng)
    out.mkdir(parents=True, exist_ok=True)
    files = write_pet_series(volume.suv * volume.acquisition.bqml_per_suv, volume.grid,
                             volume.acquisition, identity, out / "dicom")
    labels_path, labels_json = _write_labels(volume.labels, volume.grid, out)
    if ct:
        write_ct_series(volume.labels, volume.grid, volume.acquisition, identity, out / "ct", rng)
    if reference_seg:
        _write_reference_seg(files, volume.labels, out / "reference_seg.dcm")
    return PhantomStudy(out / "dicom", tuple(files), labels_path, labels_json,
                        volume.acquisition, identity)


def _write_reference_seg(files: Sequence[Path], labels: np.ndarray, path: Path) -> None:
    from seganypet_node.outputs.seg import Algorithm, SegmentMask, build_segmentation

    # The series is written head first; the label array runs feet first.
    source = [pydicom.dcmread(f) for f in reversed(files)]
    truth = Algorithm("seganypet-node phantom ground truth", "0.1.0", family="Image Processing")
    segments = [SegmentMask(o.name, o, BoxMask.of(labels == o.label)) for o in ORGANS]
    build_segmentation(source, segments, truth, series_number=990,
                       series_description="Phantom ground truth").save_as(path)


def _anatomy(spec: PhantomSpec, subject: Subject,
             rng: np.random.Generator) -> tuple[np.ndarray, Grid]:
    """Labels from the real-anatomy template when the shared data is there, else parametric."""
    coverage = spec.coverage
    if coverage == "random":
        coverage = "skull_base" if rng.random() < 0.25 else "vertex"
    if template.available():
        v = spec.variation
        fov = FieldOfView(spec.matrix, spec.voxel_mm, spec.slices, coverage, spec.slice_mm,
                          None if v is None else v.top, None if v is None else v.bottom)
        return subject_labels(template.load_template(), subject, fov, rng,
                              None if v is None else v.arms)
    if spec.variation is not None or spec.slice_mm is not None:
        raise ValueError("phantom variations need the anatomy template in ../shared/data")
    half = (spec.matrix - 1) / 2 * spec.voxel_mm
    top = 2 * spec.voxel_mm if coverage == "vertex" else -0.09 * subject.height_mm
    grid = Grid((spec.slices, spec.matrix, spec.matrix), (spec.voxel_mm,) * 3,
                (-half, -half, top - (spec.slices - 1) * spec.voxel_mm))
    return build_labels(grid, subject, 0.0, []), grid


def _identity(seed: int, rng: np.random.Generator) -> StudyIdentity:
    year = int(rng.integers(1940, 2000))
    return StudyIdentity(
        patient_name=f"PHANTOM^SEED{seed}", patient_id=f"PH{seed:06d}",
        patient_sex=str(rng.choice(["M", "F"])), birth_date=f"{year}0{int(rng.integers(1, 10))}15",
        study_uid=generate_uid(), series_uid=generate_uid(),
        frame_of_reference_uid=generate_uid(), accession_number=f"ACC{seed:07d}",
    )


def _place_lesions(labels: np.ndarray, grid: Grid, count: int,
                   rng: np.random.Generator) -> list[tuple[tuple[float, float, float], float]]:
    x, y, z = grid.axes()
    lesions = []
    for k in range(count):
        site = LESION_SITES[k % len(LESION_SITES)]
        label = BONE if site == "bone_marrow" else BY_NAME[site].label
        inside = ndimage.binary_erosion(labels == label, iterations=2)
        candidates = np.argwhere(inside if inside.any() else labels == label)
        if len(candidates) == 0:
            continue
        kz, ky, kx = candidates[rng.integers(len(candidates))]
        lesions.append(((float(x[kx]), float(y[ky]), float(z[kz])), float(rng.uniform(5, 12))))
    return lesions


def _write_labels(labels: np.ndarray, grid: Grid, out: Path) -> tuple[Path, Path]:
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    path = out / "labels.nii.gz"
    sitk.WriteImage(image, str(path), useCompression=True)
    names = {o.label: o.name for o in ORGANS} | BACKGROUND_NAMES
    present = sorted(int(v) for v in np.unique(labels) if v)
    mapping = {
        str(v): names.get(v, f"lesion_{v - LESION_LABEL_BASE}") for v in present
    }
    json_path = out / "labels.json"
    json_path.write_text(json.dumps(mapping, indent=2) + "\n")
    return path, json_path
