"""A stored PET series as one 3D volume: geometry checked, rescaled per slice, in SUVbw
where the header allows it.

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
from seganypet_node.imaging.units import Unit


class SeriesError(NodeError, ValueError):
    """The instances do not make one PET volume; the message says which check failed."""


@dataclass(frozen=True)
class PetSlice:
    """One image plane of the series: where it is and how its values scale."""

    position: tuple[float, float, float]
    slope: float
    intercept: float
    path: Path  # the file whose pixels hold the plane
    matrix: tuple[int, int]  # Rows, Columns
    source: Dataset  # header without pixel data (for outputs that reference it)
    frame: int  # 1-based frame number in a multi-frame instance, 0 for classic


@dataclass(frozen=True, eq=False)
class PetVolume:
    """A PET series as a volume on its own grid.

    Parameters
    ----------
    image : SimpleITK.Image
        float32 values in ``unit``, LPS geometry, slice order = ``sources``.
    scale : SuvScale
        Conversion to Bq/ml and SUV, or why SUV is absent.
    sources : tuple of pydicom.Dataset
        Header of each slice (no pixel data), in volume order (index 0 = first array slice).
    unit : Unit
        What ``image`` holds: SUVbw where the header allows SUV, else Bq/ml where the units
        allow it, else the rescaled values in the series' own units.
    """

    image: sitk.Image
    scale: SuvScale
    sources: tuple[Dataset, ...]
    unit: Unit

    @property
    def series_uid(self) -> str:
        return str(self.sources[0].SeriesInstanceUID)


def read_pet_series(paths: Sequence[Path]) -> PetVolume:
    """Read the files of one PET series into a checked volume.

    Headers are read and checked first; pixels are then decoded one file at a time straight
    into the volume, so a study is held once (float32), never as a list of slices as well.

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
    times = [t for t in (acquisition_datetime(s.source) for s in slices) if t is not None]
    scale = suv_scale(slices[0].source, times)
    factor, unit = _value_factor(scale)
    image = _geometry(slices, orientation, grid)
    _fill(image, slices, factor)
    return PetVolume(image, scale, tuple(s.source for s in slices), unit)


def _value_factor(scale: SuvScale) -> tuple[float, Unit]:
    """Per rescaled value: SUVbw where the header allows it, else Bq/ml, else the series'
    own units (the volume is scaled once, as it is filled)."""
    if scale.suvbw is not None:
        return scale.suvbw, Unit.SUVBW
    if scale.bqml is not None:
        return scale.bqml, Unit.BQML
    return 1.0, Unit.of_series(scale.units)


def _slices_of(path: Path) -> list[PetSlice]:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types for a damaged file
        raise SeriesError(f"{path.name}: cannot be read as DICOM ({exc})") from None
    if str(ds.get("Modality", "")) != "PT":
        raise SeriesError(f"{path.name}: modality {ds.get('Modality')} is not PT")
    matrix = (int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0))
    if "PerFrameFunctionalGroupsSequence" not in ds:
        return [PetSlice(_position(ds), *_rescale(ds), path, matrix, ds, 0)]
    shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    out = []
    for number, group in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
        plane = _functional(group, shared, "PlanePositionSequence")
        transform = _functional(group, shared, "PixelValueTransformationSequence")
        out.append(PetSlice(_position(plane), *_rescale(transform), path, matrix, ds, number))
    return out


def _fill(image: sitk.Image, slices: list[PetSlice], factor: float) -> None:
    """Decode each file once and paste its planes, rescaled and scaled, in place."""
    planes: dict[Path, list[tuple[int, PetSlice]]] = {}
    for index, piece in enumerate(slices):
        planes.setdefault(piece.path, []).append((index, piece))
    for path, placed in planes.items():
        pixels = _planes_of(path, placed[0][1].matrix, len(placed))
        for index, piece in placed:
            values = pixels[max(piece.frame, 1) - 1].astype(np.float32)
            values *= np.float32(piece.slope * factor)
            values += np.float32(piece.intercept * factor)
            image[:, :, index] = sitk.GetImageFromArray(values)


def _planes_of(path: Path, matrix: tuple[int, int], planes: int) -> np.ndarray:
    """The stored values of a file as (frames, rows, columns), one frame per plane its
    header places."""
    try:
        pixels = pydicom.dcmread(path).pixel_array
    except Exception as exc:  # pydicom and its decoders raise many types
        raise SeriesError(f"{path.name}: pixel data does not decode ({exc})") from None
    if tuple(pixels.shape[-2:]) != matrix:
        raise SeriesError(f"{path.name}: pixel data of shape {pixels.shape} does not match "
                          f"Rows x Columns {matrix[0]} x {matrix[1]}")
    frames = pixels.reshape(-1, *matrix)
    if len(frames) != planes:
        raise SeriesError(f"{path.name}: {len(frames)} frame(s) of pixel data for {planes} "
                          f"plane(s) its header places")
    return frames


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
                    lambda s: "x".join(str(n) for n in s.matrix))
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


def _geometry(slices: list[PetSlice], orientation: np.ndarray, grid: SliceGrid) -> sitk.Image:
    """An empty float32 volume on the series' grid (filled in place: a second full copy of a
    2 mm study costs 470 MB)."""
    rows, columns = slices[0].matrix
    image = sitk.Image([columns, rows, len(slices)], sitk.sitkFloat32)
    row_spacing, column_spacing = _pixel_spacing_of(slices[0].source)
    image.SetSpacing((column_spacing, row_spacing, grid.spacing_mm))
    normal = np.cross(orientation[:3], orientation[3:])
    image.SetOrigin(tuple(float(v) for v in np.asarray(slices[0].position)
                          + grid.offset_mm * normal))
    direction = np.column_stack([orientation[:3], orientation[3:], normal])
    image.SetDirection(tuple(float(v) for v in direction.flatten()))
    return image
