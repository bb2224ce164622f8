"""A stored PET series as one 3D volume: geometry checked, rescaled per slice, SUV scale.

Classic PET (one slice per instance) and Enhanced PET (multi-frame) are both read. Slices are
sorted along the slice normal; a series whose slices do not form one regular grid (mixed
orientation, pixel spacing or matrix, duplicate or overlapping positions, missing slices, a
gantry tilt; see :mod:`imaging.slice_grid` for the bed-junction jitter that is accepted) is
refused with the reason, because a volume built from it would put organs in the wrong place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from seganypet_node.errors import NodeError
from seganypet_node.imaging.slice_grid import SliceGrid, SliceGridError, slice_grid
from seganypet_node.imaging.suv import SuvScale, acquisition_datetime, suv_scale


class SeriesError(NodeError, ValueError):
    """The instances do not make one PET volume; the message says which check failed."""


@dataclass(frozen=True)
class PetSlice:
    """One image plane of the series: where it is and how its values scale."""

    position: tuple[float, float, float]
    slope: float
    intercept: float
    pixels: np.ndarray  # (rows, columns), stored values
    source: Dataset  # header without pixel data (for outputs that reference it)
    frame: int  # 1-based frame number in a multi-frame instance, 0 for classic


@dataclass(frozen=True, eq=False)
class PetVolume:
    """A PET series as a volume on its own grid.

    Parameters
    ----------
    image : SimpleITK.Image
        float32 rescaled values (Bq/ml for BQML), LPS geometry, slice order = ``sources``.
    scale : SuvScale
        Conversion to Bq/ml and SUV, or why SUV is absent.
    sources : tuple of pydicom.Dataset
        Header of each slice (no pixel data), in volume order (index 0 = first array slice).
    """

    image: sitk.Image
    scale: SuvScale
    sources: tuple[Dataset, ...]

    @property
    def series_uid(self) -> str:
        return str(self.sources[0].SeriesInstanceUID)


def read_pet_series(paths: Sequence[Path]) -> PetVolume:
    """Read the files of one PET series into a checked volume.

    Raises
    ------
    SeriesError
        Files of several series, not PET, undecodable pixels, or slices that do not form a grid.
    """
    if not paths:
        raise SeriesError("no instances")
    slices: list[PetSlice] = []
    for path in paths:
        slices += _slices_of(path)
    _check_one_series(slices)
    orientation = _orientation(slices)
    normal = np.cross(orientation[:3], orientation[3:])
    slices.sort(key=lambda s: float(np.dot(s.position, normal)))
    try:
        grid = slice_grid(np.array([s.position for s in slices]), normal)
    except SliceGridError as exc:
        raise SeriesError(str(exc)) from None
    image = _stack(slices, orientation, grid)
    times = [t for t in (acquisition_datetime(s.source) for s in slices) if t is not None]
    return PetVolume(image, suv_scale(slices[0].source, times), tuple(s.source for s in slices))


def _slices_of(path: Path) -> list[PetSlice]:
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom and its decoders raise many types
        raise SeriesError(f"{path.name}: pixel data does not decode ({exc})") from None
    if str(ds.get("Modality", "")) != "PT":
        raise SeriesError(f"{path.name}: modality {ds.get('Modality')} is not PT")
    header = ds.copy()
    del header.PixelData
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" not in ds:
        return [PetSlice(_position(ds), *_rescale(ds), pixels, header, 0)]
    pixels = pixels.reshape(frames, *pixels.shape[-2:])
    shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    out = []
    for number, group in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
        plane = _functional(group, shared, "PlanePositionSequence")
        transform = _functional(group, shared, "PixelValueTransformationSequence")
        out.append(PetSlice(_position(plane), *_rescale(transform), pixels[number - 1], header,
                            number))
    return out


def _functional(group: Dataset, shared: Dataset, keyword: str) -> Dataset:
    for source in (group, shared):
        if keyword in source and source[keyword].value:
            return source[keyword][0]
    return Dataset()


def _position(ds: Dataset) -> tuple[float, float, float]:
    value = ds.get("ImagePositionPatient")
    if value is None or len(value) != 3:
        raise SeriesError("ImagePositionPatient is missing")
    return (float(value[0]), float(value[1]), float(value[2]))


def _rescale(ds: Dataset) -> tuple[float, float]:
    return float(ds.get("RescaleSlope", 1.0) or 1.0), float(ds.get("RescaleIntercept", 0.0) or 0.0)


def _orientation_of(ds: Dataset) -> np.ndarray:
    value = ds.get("ImageOrientationPatient")
    if value is None:
        shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
        value = _functional(Dataset(), shared, "PlaneOrientationSequence").get(
            "ImageOrientationPatient")
    if value is None or len(value) != 6:
        raise SeriesError("ImageOrientationPatient is missing")
    return np.array([float(v) for v in value])


def _pixel_spacing_of(ds: Dataset) -> tuple[float, float]:
    value = ds.get("PixelSpacing")
    if value is None:
        shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
        value = _functional(Dataset(), shared, "PixelMeasuresSequence").get("PixelSpacing")
    if value is None or len(value) != 2:
        raise SeriesError("PixelSpacing is missing")
    return float(value[0]), float(value[1])


def _check_one_series(slices: list[PetSlice]) -> None:
    series = {str(s.source.SeriesInstanceUID) for s in slices}
    if len(series) > 1:
        raise SeriesError(f"instances of {len(series)} series given, expected one")
    _check_constant("matrix (rows x columns)", slices,
                    lambda s: "x".join(str(n) for n in s.pixels.shape))
    _check_constant("PixelSpacing (mm)", slices,
                    lambda s: "/".join(f"{v:g}" for v in _pixel_spacing_of(s.source)))


def _check_constant(what: str, slices: list[PetSlice], value: Callable[[PetSlice], str]) -> None:
    counts = Counter(value(s) for s in slices)
    if len(counts) > 1:
        found = ", ".join(f"{v} in {n} slice(s)" for v, n in counts.most_common(4))
        raise SeriesError(f"{what} changes within the series: {found}")


def _orientation(slices: list[PetSlice]) -> np.ndarray:
    orientations = [_orientation_of(s.source) for s in slices]
    first = orientations[0]
    if any(np.abs(o - first).max() > 1e-3 for o in orientations):
        raise SeriesError("slices have different ImageOrientationPatient")
    return first


def _stack(slices: list[PetSlice], orientation: np.ndarray, grid: SliceGrid) -> sitk.Image:
    # One float32 volume filled slice by slice (a list of slices, then their stack, held it
    # twice; 470 MB each at 2 mm).
    values = np.empty((len(slices), *slices[0].pixels.shape), dtype=np.float32)
    for index, piece in enumerate(slices):
        np.multiply(piece.pixels, np.float32(piece.slope), out=values[index], casting="unsafe")
        values[index] += np.float32(piece.intercept)
    image = sitk.GetImageFromArray(values)
    del values
    row_spacing, column_spacing = _pixel_spacing_of(slices[0].source)
    image.SetSpacing((column_spacing, row_spacing, grid.spacing_mm))
    normal = np.cross(orientation[:3], orientation[3:])
    image.SetOrigin(tuple(float(v) for v in np.asarray(slices[0].position)
                          + grid.offset_mm * normal))
    direction = np.column_stack([orientation[:3], orientation[3:], normal])
    image.SetDirection(tuple(float(v) for v in direction.flatten()))
    return image
