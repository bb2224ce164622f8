"""What the browser is asked to show, and what its screenshots must then hold.

The plan picks the axial PET slice that crosses the most organs in the node's own masks
(``masks/<organ>.nii.gz`` of its result folder), a point deep inside each organ on that slice and
points outside the body, all in patient coordinates: where OHIF draws them is then asked of OHIF
itself, so a flipped, shifted or swapped overlay shows as the wrong colour at the wrong point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.organs import BY_NAME

MIN_AREA_PX = 12  # organs smaller than this on the slice are too thin to probe reliably


@dataclass(frozen=True)
class Probe:
    """A world point (LPS, mm) and the organ the node put there ("" outside every organ)."""

    organ: str
    world: tuple[float, float, float]


@dataclass(frozen=True)
class ViewerPlan:
    """The study and slice to show, and the probes to judge the screenshots by."""

    study_uid: str
    pet_instance_uid: str
    probes: tuple[Probe, ...]
    descriptions: dict[str, str]  # modality -> SeriesDescription of the node's objects
    key_image: Path  # the node's key image file
    key_image_uid: str

    def as_json(self, url: str) -> dict[str, Any]:
        return {
            "url": url, "study_uid": self.study_uid, "pet_instance_uid": self.pet_instance_uid,
            "points": [list(p.world) for p in self.probes],
            "seg_description": self.descriptions["SEG"],
            "sr_description": self.descriptions["SR"],
            "key_image_description": self.descriptions["OT"],
            "key_image_uid": self.key_image_uid,
        }


def make_plan(pet_files: list[Path], result_dir: Path) -> ViewerPlan:
    """Plan from the PET series and the node's result folder (masks and DICOM objects)."""
    masks = {p.name.removesuffix(".nii.gz"): sitk.ReadImage(str(p))
             for p in sorted((result_dir / "masks").glob("*.nii.gz"))}
    every = {name: sitk.GetArrayFromImage(image) > 0 for name, image in masks.items()}
    # Organs are probed away from the lesions and reference regions that overlap them.
    arrays = {name: mask for name, mask in every.items() if name in BY_NAME}
    others = np.logical_or.reduce([m for name, m in every.items() if name not in BY_NAME]
                                  or [np.zeros_like(next(iter(arrays.values())))])
    reference = masks[next(iter(arrays))]
    k = _busiest_slice(arrays)
    probes = [
        Probe(organ, _world(reference, _deepest(mask[k] & ~others[k]), k))
        for organ, mask in arrays.items() if (mask[k] & ~others[k]).sum() >= MIN_AREA_PX
    ]
    rows, cols = sitk.GetArrayViewFromImage(reference).shape[1:]
    probes += [Probe("", _world(reference, (r, c), k))
               for r, c in ((2, 2), (2, cols - 3), (rows - 3, 2))]
    z = probes[0].world[2]
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in pet_files]
    slice_header = min(headers, key=lambda h: abs(float(h.ImagePositionPatient[2]) - z))
    results = {str(ds.Modality): ds for ds in (
        pydicom.dcmread(path, stop_before_pixels=True)
        for path in (result_dir / "dicom").glob("*.dcm"))}
    return ViewerPlan(
        str(slice_header.StudyInstanceUID), str(slice_header.SOPInstanceUID), tuple(probes),
        {modality: str(ds.SeriesDescription) for modality, ds in results.items()},
        result_dir / "dicom" / "key_image.dcm", str(results["OT"].SOPInstanceUID))


def _busiest_slice(arrays: dict[str, np.ndarray]) -> int:
    counts = sum((m.sum(axis=(1, 2)) >= MIN_AREA_PX).astype(int) for m in arrays.values())
    return int(np.argmax(counts))


def _deepest(mask: np.ndarray) -> tuple[int, int]:
    distance = ndimage.distance_transform_edt(mask)
    row, col = np.unravel_index(int(np.argmax(distance)), mask.shape)
    return int(row), int(col)


def _world(image: sitk.Image, row_col: tuple[int, int], k: int) -> tuple[float, float, float]:
    row, col = row_col
    x, y, z = image.TransformIndexToPhysicalPoint((col, row, k))  # SimpleITK: LPS, as DICOM
    return float(x), float(y), float(z)
