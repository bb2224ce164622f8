"""A PET simulated on real CT anatomy: the TotalSegmentator example turned into FDG uptake."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.imaging.volume import array_on_grid
from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.anatomy import BODY, BONE
from seganypet_node.phantom.physics import scanner, uptake_suv
from seganypet_node.phantom.template import SHARED_DATA

TOTALSEG_DIR = SHARED_DATA / "totalseg_example_ct"
BODY_HU = -400.0
# TotalSegmentator structure name -> catalogue organ.
ORGAN_NAMES = {
    "spleen": "spleen", "kidney_right": "kidney_right", "kidney_left": "kidney_left",
    "liver": "liver", "aorta": "aorta", "heart": "heart", "urinary_bladder": "urinary_bladder",
    "brain": "brain", "lung_upper_lobe_left": "lung_left", "lung_lower_lobe_left": "lung_left",
    "lung_upper_lobe_right": "lung_right", "lung_middle_lobe_right": "lung_right",
    "lung_lower_lobe_right": "lung_right",
}
BONE_PREFIXES = ("vertebrae_", "rib_", "costal_cartilages", "sacrum", "hip_", "femur_",
                 "sternum", "scapula_", "clavicula_", "humerus_")


@dataclass(frozen=True, eq=False)
class SimulatedPet:
    """SUV image on the CT grid (its own orientation) and catalogue labels [z, y, x]."""

    suv: sitk.Image
    labels: np.ndarray


def available() -> bool:
    return (TOTALSEG_DIR / "example_ct.nii.gz").is_file()


def simulate_from_totalseg(seed: int = 0, fwhm_mm: float = 6.0) -> SimulatedPet:
    """FDG uptake drawn per tissue on the example CT's anatomy, blurred and noised."""
    rng = np.random.default_rng(seed)
    seg_image = sitk.ReadImage(str(TOTALSEG_DIR / "example_seg.nii.gz"))
    # The labels cover only the first slices of the CT: work on the labelled grid.
    ct = sitk.Resample(sitk.ReadImage(str(TOTALSEG_DIR / "example_ct.nii.gz")), seg_image,
                       sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
    seg = sitk.GetArrayFromImage(seg_image)
    names = json.loads((TOTALSEG_DIR / "labels.json").read_text())["labels"]
    hu = sitk.GetArrayFromImage(ct)
    body = ndimage.binary_fill_holes(hu > BODY_HU) | (seg > 0)
    labels = np.where(body, BODY, 0).astype(np.uint8)
    for value, name in names.items():
        where = seg == int(value)
        if not where.any():
            continue
        if name in ORGAN_NAMES:
            labels[where] = BY_NAME[ORGAN_NAMES[name]].label
        elif name.startswith(BONE_PREFIXES):
            labels[where] = BONE
    spacing = ct.GetSpacing()
    suv = scanner(uptake_suv(labels, spacing, rng), spacing, fwhm_mm, 150.0, rng)
    return SimulatedPet(array_on_grid(suv.astype(np.float32), ct), labels)
