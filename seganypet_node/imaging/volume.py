"""What the pipeline segments: a volume of rescaled values and its factor to SUVbw.

Made from a stored PET series (DICOM files, the node's and ``segment``'s path) or from a
NIfTI file (``segment`` on research data, taken as SUVbw already: see
:mod:`seganypet_node.imaging.nifti`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from seganypet_node.imaging.nifti import SUV_ASSUMPTION, read_nifti
from seganypet_node.imaging.pet import PetVolume, SeriesError, read_pet_series
from seganypet_node.imaging.series_choice import choose_pet_series
from seganypet_node.imaging.units import Unit

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True, eq=False)
class VolumeInput:
    """A volume to segment.

    Parameters
    ----------
    values : SimpleITK.Image
        SUVbw where the header allows it (DICOM and NIfTI alike), else Bq/ml or the series'
        own units; LPS geometry.
    unit : Unit
        Unit of ``values`` (SUVbw, Bq/ml, or the series' Units).
    suv_note : str | None
        Why SUV is absent, or which rule gave it.
    pet : PetVolume | None
        The DICOM series it came from (None for NIfTI input).
    read_note : str | None
        What was read, where a folder held more than the one PET series (or a NIfTI's unit
        assumption), for the person running ``segment``.
    """

    values: sitk.Image
    unit: Unit
    suv_note: str | None = None
    pet: PetVolume | None = None
    read_note: str | None = None

    @property
    def suvbw(self) -> float | None:
        """SUVbw per value: 1.0, since the values are SUVbw wherever the header allows it;
        None when it does not."""
        return 1.0 if self.unit is Unit.SUVBW else None

    @property
    def measured_unit(self) -> Unit:
        """The unit measurements are reported in: the values' own."""
        return self.unit

    def measured_image(self) -> sitk.Image:
        """The values measurements are taken on, as float32: the volume itself (callers do
        not write to it), cast only when it is not float32 already."""
        return as_float32(self.values)

    @property
    def sul_per_suv(self) -> float | None:
        """SUL (lean body mass, Janmahasatian) per SUVbw: lean body mass over weight; None
        without SUV or without the sex, height and weight the lean body mass needs."""
        if self.suvbw is None or self.pet is None:
            return None
        scale = self.pet.scale
        if scale.sul is None or not scale.suvbw:
            return None
        return scale.sul / scale.suvbw

    @property
    def body_size(self) -> tuple[float | None, float | None]:
        """PatientWeight (kg) and PatientSize (m) from the header; None where absent."""
        header = self.pet.sources[0] if self.pet is not None else None
        return _header_number(header, "PatientWeight"), _header_number(header, "PatientSize")


def _header_number(header: object, keyword: str) -> float | None:
    value = getattr(header, keyword, None) if header is not None else None
    try:
        number = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and number > 0 else None


def array_on_grid(values: np.ndarray, like: sitk.Image) -> sitk.Image:
    """A [z, y, x] array as an image with ``like``'s origin, spacing and direction."""
    image = sitk.GetImageFromArray(values)
    image.CopyInformation(like)
    return image


def as_image(values: np.ndarray, spacing: Sequence[float], origin: Sequence[float],
             direction: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> sitk.Image:
    """A [z, y, x] array as a SimpleITK image with the given geometry."""
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection(tuple(float(d) for d in direction))
    return image


def as_float32(image: sitk.Image) -> sitk.Image:
    """``image`` itself when it is float32 already (callers must not write to it), else a
    float32 copy.

    ``sitk.Cast`` copies even to the same type: 0.8 GB for a 1000 x 440^2 series.
    """
    if image.GetPixelID() == sitk.sitkFloat32:
        return image
    return sitk.Cast(image, sitk.sitkFloat32)


def point_of_voxel(image: sitk.Image, index_zyx: Sequence[int] | np.ndarray
                   ) -> tuple[float, float, float]:
    """Patient LPS point (mm) of ``image``'s voxel given in array order [z, y, x]."""
    x, y, z = image.TransformIndexToPhysicalPoint([int(v) for v in index_zyx[::-1]])
    return (float(x), float(y), float(z))


def points_of_voxels(image: sitk.Image, index_zyx: np.ndarray) -> np.ndarray:
    """Patient LPS points (N, 3), mm, of ``image``'s voxels given in array order [z, y, x]
    (the vectorised :func:`point_of_voxel`, for whole masks)."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    scaled = index_zyx[:, ::-1] * np.array(image.GetSpacing())
    return np.asarray(image.GetOrigin()) + scaled @ direction.T


def from_pet_series(pet: PetVolume) -> VolumeInput:
    """A read PET series as pipeline input: in SUVbw where the header allows it (the reader
    scaled it as it filled the volume, so there is one SUV image per study), else Bq/ml."""
    scale = pet.scale
    note = scale.reason if scale.suvbw is None else f"SUVbw by rule {scale.rule}"
    return VolumeInput(pet.image, pet.unit, note, pet)


def from_nifti(path: Path, spacing_mm: Sequence[float] | None = None) -> VolumeInput:
    """A NIfTI volume, taken to hold SUVbw (research exports usually do; see
    :func:`seganypet_node.imaging.nifti.read_nifti` for what is refused)."""
    image = read_nifti(path, spacing_mm)
    spacing = " x ".join(f"{v:g}" for v in image.GetSpacing())
    return VolumeInput(image, Unit.SUVBW, SUV_ASSUMPTION, None,
                       f"{SUV_ASSUMPTION} (no weight or dose travels with NIfTI); voxels "
                       f"{spacing} mm")


def load_input(sources: Sequence[Path], spacing_mm: Sequence[float] | None = None
               ) -> VolumeInput:
    """One NIfTI file, or DICOM files and folders holding one PET series (other series, a
    study's CT among them, are left and named in :attr:`VolumeInput.read_note`).

    Parameters
    ----------
    sources : sequence of pathlib.Path
        A NIfTI file, or DICOM files and folders (walked).
    spacing_mm : sequence of float, optional
        Voxel size (x, y, z) for a NIfTI file that carries none.

    Raises
    ------
    SeriesError
        A path that does not exist, nothing readable, no PET series or several, or files
        that do not make one PET volume.
    """
    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        raise SeriesError(f"{', '.join(missing)} does not exist: give a folder or files of "
                          f"one PET series, or a NIfTI file")
    if len(sources) == 1 and sources[0].name.endswith(NIFTI_SUFFIXES):
        return from_nifti(sources[0], spacing_mm)
    if spacing_mm is not None:
        raise SeriesError("--spacing is for NIfTI input; a DICOM series carries its own")
    files = sorted(f for source in sources
                   for f in (source.rglob("*") if source.is_dir() else [source]) if f.is_file())
    if not files:
        raise SeriesError(f"no files found in {', '.join(str(s) for s in sources)}")
    choice = choose_pet_series(files)
    volume = from_pet_series(read_pet_series(choice.files))
    return dataclasses.replace(volume, read_note=choice.note)
