"""The node's own masks (NIfTI, ``masks/<organ>.nii.gz``) sampled on the PET instances' pixels.

What a viewer builds from the SEG is a labelmap over the PET image stack; this builds the same
labelmap from the masks the node wrote, through patient coordinates only (each PET pixel centre
mapped into the mask's index space), so nothing is shared with how the SEG was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk


def pixel_centres(header: pydicom.Dataset) -> np.ndarray:
    """World coordinates (LPS, mm) of each pixel centre of a PET instance: (rows, cols, 3)."""
    origin = np.array([float(v) for v in header.ImagePositionPatient])
    cosines = np.array([float(v) for v in header.ImageOrientationPatient])
    row_step, col_step = (float(v) for v in header.PixelSpacing)  # between rows, columns
    along_row, along_col = cosines[:3], cosines[3:]
    r, c = np.mgrid[0:int(header.Rows), 0:int(header.Columns)]
    return (origin + c[..., None] * col_step * along_row + r[..., None] * row_step * along_col)


def sample(mask: sitk.Image, array: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Nearest mask voxel at each world point (False outside the mask's grid)."""
    direction = np.array(mask.GetDirection()).reshape(3, 3)
    index = (world - np.array(mask.GetOrigin())) @ direction / np.array(mask.GetSpacing())
    ijk = np.rint(index).astype(int)
    size = np.array(mask.GetSize())
    inside = np.all((ijk >= 0) & (ijk < size), axis=-1)
    ijk = np.where(inside[..., None], ijk, 0)
    return inside & array[ijk[..., 2], ijk[..., 1], ijk[..., 0]]


def mask_stem(label: str) -> str:
    """The node's mask file (without ``.nii.gz``) behind a SEG segment label: organs by their
    catalogue name ("kidney left" -> kidney_left), lesions as lesion_N, reference regions by
    the reference's name (their label also names the site)."""
    for reference in ("PERCIST liver reference", "blood pool reference"):
        if label.startswith(reference):
            return reference.replace(" ", "_")
    return label.replace(" ", "_")


def node_segment_masks(masks_dir: Path, pet_headers: Sequence[pydicom.Dataset],
                       segment_labels: dict[int, str]) -> dict[int, np.ndarray]:
    """Each segment's voxels (stack, rows, cols) from the node's masks, by segment number.

    Segments may overlap (a lesion in its organ, a reference region in the liver), so each
    is its own boolean stack rather than one labelmap.
    """
    centres = [pixel_centres(header) for header in pet_headers]
    out = {}
    for number, label in segment_labels.items():
        image = sitk.ReadImage(str(masks_dir / f"{mask_stem(label)}.nii.gz"))
        array = sitk.GetArrayFromImage(image) > 0
        out[number] = np.stack([sample(image, array, world) for world in centres])
    return out
