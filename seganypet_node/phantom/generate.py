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
from seganypet_node.phantom.pet_series import StudyIdentity, write_pet_series
from seganypet_node.phantom.physics import Acquisition, scanner, uptake_suv
from seganypet_node.phantom.subject import FieldOfView, subject_labels

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
    if spec.lesions:
        painter = Painter(grid, labels)
        for k, (centre, radius) in enumerate(_place_lesions(labels, grid, spec.lesions, rng), 1):
            painter.ellipsoid(LESION_LABEL_BASE + k, centre, (radius, radius, radius))
    suv = scanner(uptake_suv(labels, grid.spacing, rng), grid.spacing, spec.fwhm_mm,
                  spec.counts_per_suv_ml, rng)
    day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
    acquisition = Acquisition.draw(rng, day, subject.height_mm, subject.girth)
    return PhantomVolume(suv, labels, grid, acquisition, spec.seed)


def _overridden(subject: Subject, spec: PhantomSpec) -> Subject:
    changes = {name: getattr(spec, name) for name in ("height_mm", "girth", "arms_up")
               if getattr(spec, name) is not None}
    return dataclasses.replace(subject, **changes) if changes else subject


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
    segments = [SegmentMask(o.name, o, labels == o.label) for o in ORGANS]
    build_segmentation(source, segments, truth, series_number=990,
                       series_description="Phantom ground truth").save_as(path)


def _anatomy(spec: PhantomSpec, subject: Subject,
             rng: np.random.Generator) -> tuple[np.ndarray, Grid]:
    """Labels from the real-anatomy template when the shared data is there, else parametric."""
    coverage = spec.coverage
    if coverage == "random":
        coverage = "skull_base" if rng.random() < 0.25 else "vertex"
    if template.available():
        fov = FieldOfView(spec.matrix, spec.voxel_mm, spec.slices, coverage)
        return subject_labels(template.load_template(), subject, fov, rng)
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
