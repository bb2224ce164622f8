"""One synthetic whole-body FDG PET study: DICOM series plus ground-truth labels."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.uid import generate_uid
from scipy import ndimage

from seganypet_node.organs import BY_NAME, LESION_LABEL_BASE, ORGANS
from seganypet_node.phantom.anatomy import BACKGROUND_NAMES, BONE, Grid, Subject, build_labels
from seganypet_node.phantom.pet_series import StudyIdentity, write_pet_series
from seganypet_node.phantom.physics import Acquisition, scanner, uptake_suv

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


@dataclass(frozen=True)
class PhantomStudy:
    """Where a generated study was written, and the facts it was generated from."""

    dicom_dir: Path
    files: tuple[Path, ...]
    labels_path: Path
    labels_json: Path
    acquisition: Acquisition
    identity: StudyIdentity


def generate(spec: PhantomSpec, out: Path) -> PhantomStudy:
    """Write ``out/dicom/``, ``out/labels.nii.gz`` and ``out/labels.json``."""
    rng = np.random.default_rng(spec.seed)
    subject = Subject.draw(rng)
    spacing = (spec.voxel_mm, spec.voxel_mm, spec.voxel_mm)
    half = (spec.matrix - 1) / 2 * spec.voxel_mm
    vertex_z = 0.0
    top = vertex_z + 2 * spec.voxel_mm
    grid = Grid((spec.slices, spec.matrix, spec.matrix), spacing,
                (-half, -half, top - (spec.slices - 1) * spec.voxel_mm))
    labels = build_labels(grid, subject, vertex_z, [])
    if spec.lesions:
        lesions = _place_lesions(labels, grid, spec.lesions, rng)
        labels = build_labels(grid, subject, vertex_z, lesions)
    suv = scanner(uptake_suv(labels, spacing, rng), spacing, spec.fwhm_mm,
                  spec.counts_per_suv_ml, rng)
    day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
    acquisition = Acquisition.draw(rng, day, subject.height_mm, subject.girth)
    identity = _identity(spec.seed, rng)
    out.mkdir(parents=True, exist_ok=True)
    files = write_pet_series(suv * acquisition.bqml_per_suv, grid, acquisition, identity,
                             out / "dicom")
    labels_path, labels_json = _write_labels(labels, grid, out)
    return PhantomStudy(out / "dicom", tuple(files), labels_path, labels_json, acquisition,
                        identity)


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
