"""NIfTI input for ``segment``: one 3-D volume taken as SUVbw, checked before any work.

A NIfTI file carries no weight, dose or times, so its values cannot be converted to SUV here;
research exports usually hold SUVbw already. Values no patient's SUV reaches (a volume still
in Bq/ml) are refused, and a volume that carries no voxel size (pixdim 1 mm with neither qform
nor sform) must be given one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.pet import SeriesError

# A 99.9th percentile above this is not SUVbw: tumour SUVmax rarely passes 50, and the
# bladder's 100, while a volume left in Bq/ml reads in thousands.
MAX_PLAUSIBLE_SUV = 150.0
SUV_ASSUMPTION = "NIfTI input taken as SUVbw"


class NiftiInputError(SeriesError):
    """A NIfTI file that cannot be segmented as it is; the message says what to do."""


def read_nifti(path: Path, spacing_mm: Sequence[float] | None = None) -> sitk.Image:
    """The volume in ``path`` as float32, checked to be one 3-D volume with a voxel size and
    values that can be SUVbw.

    Parameters
    ----------
    path : pathlib.Path
        A ``.nii`` or ``.nii.gz`` file.
    spacing_mm : sequence of float, optional
        Voxel size (x, y, z) in mm, replacing the file's (for files that carry none).

    Raises
    ------
    NiftiInputError
        Not 3-D, no voxel size, or values that cannot be SUVbw.
    """
    try:
        image = sitk.ReadImage(str(path), sitk.sitkFloat32)
    except RuntimeError as exc:
        raise NiftiInputError(f"{path} cannot be read as NIfTI "
                              f"({str(exc).strip().splitlines()[-1]})") from None
    image = _three_d(image, path)
    if spacing_mm is not None:
        if len(spacing_mm) != 3 or not all(0.1 <= float(s) <= 50.0 for s in spacing_mm):
            raise NiftiInputError(f"--spacing {' '.join(str(s) for s in spacing_mm)}: give "
                                  f"three voxel sizes from 0.1 to 50 mm (x y z)")
        image.SetSpacing(tuple(float(s) for s in spacing_mm))
    elif _spacing_missing(image, path):
        raise NiftiInputError(
            f"{path} carries no voxel size (pixdim 1 x 1 x 1 mm and neither qform nor sform): "
            f"give it with --spacing X Y Z (mm), as the scanner reconstructed it")
    _check_suv(image, path)
    return image


def _three_d(image: sitk.Image, path: Path) -> sitk.Image:
    size = image.GetSize()
    if image.GetDimension() == 4 and size[3] == 1:
        return image[:, :, :, 0]
    if image.GetDimension() != 3 or min(size) < 2:
        shape = " x ".join(str(s) for s in size)
        raise NiftiInputError(
            f"{path} is a {image.GetDimension()}-D image ({shape} voxels); segment needs one "
            f"3-D PET volume (a 4-D series: give one frame)")
    return image


def _spacing_missing(image: sitk.Image, path: Path) -> bool:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    codes = [reader.GetMetaData(key) if reader.HasMetaDataKey(key) else "0"
             for key in ("qform_code", "sform_code")]
    unset = all(code.strip() in ("0", "") for code in codes)
    return unset and np.allclose(image.GetSpacing(), 1.0)


def _check_suv(image: sitk.Image, path: Path) -> None:
    values = sitk.GetArrayViewFromImage(image)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise NiftiInputError(f"{path} holds no finite values")
    high = float(np.percentile(finite, 99.9))
    if high > MAX_PLAUSIBLE_SUV:
        raise NiftiInputError(
            f"{path}: values up to {high:.0f} (99.9th percentile) cannot be SUVbw; NIfTI input "
            f"must already be in SUVbw (no weight or dose travels with it): convert it "
            f"(Bq/ml x weight g / decay-corrected dose Bq), or give the DICOM series instead")
