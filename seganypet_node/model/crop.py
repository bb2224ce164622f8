"""Geometry of model crops: a cube of voxels at the model's spacing and array orientation.

Patient coordinates are DICOM LPS in mm. A crop's array axes (dim0, dim1, dim2) point in the
directions its orientation code names (RAS: toward patient right, anterior, superior, as
torchio's ToCanonical gives). Crops are resampled straight from the patient image onto their
own small grid, so the whole body is never resampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

BORDER_VOXELS = 2  # mask this close to a crop face means the organ may go on
# An organ cut by a crop face crosses it with a good part of its section; a sliver or the tip
# of a neighbour touching the face is not followed.
FACE_SHARE = 0.25
_LPS_UNIT = {
    "L": (1.0, 0.0, 0.0), "R": (-1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0), "A": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0), "I": (0.0, 0.0, -1.0),
}


def orientation_matrix(code: str) -> np.ndarray:
    """3x3 matrix whose column k is the LPS direction of array axis k (e.g. "RAS")."""
    return np.array([_LPS_UNIT[c] for c in code.upper()]).T


@dataclass(frozen=True)
class CropGrid:
    """A cubic crop: ``size`` voxels of ``spacing`` mm per axis, centred at ``centre`` (LPS).

    Hashable, so it keys the image-embedding cache.
    """

    centre: tuple[float, float, float]
    size: int
    spacing: float
    orientation: str

    @property
    def direction(self) -> np.ndarray:
        return orientation_matrix(self.orientation)

    @property
    def extent_mm(self) -> float:
        return self.size * self.spacing

    @property
    def origin(self) -> np.ndarray:
        """LPS position of voxel (0, 0, 0)."""
        half = (self.size - 1) / 2 * self.spacing
        return np.asarray(self.centre) - self.direction @ np.full(3, half)

    def reference(self) -> sitk.Image:
        """An empty SimpleITK image with this grid (index order = dim0, dim1, dim2)."""
        image = sitk.Image([self.size] * 3, sitk.sitkUInt8)
        image.SetSpacing([self.spacing] * 3)
        image.SetOrigin(tuple(float(v) for v in self.origin))
        image.SetDirection(tuple(float(v) for v in self.direction.flatten()))
        return image

    def to_index(self, points_lps: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (dim0, dim1, dim2) of (N, 3) LPS points."""
        offsets = np.asarray(points_lps, dtype=float) - self.origin
        return offsets @ self.direction / self.spacing  # direction is orthonormal

    def to_lps(self, indices: np.ndarray) -> np.ndarray:
        """LPS positions of (N, 3) voxel indices."""
        return self.origin + (np.asarray(indices, dtype=float) * self.spacing) @ self.direction.T

    def contains(self, point_lps: np.ndarray, margin: float = 0.0) -> bool:
        """Whether a point lies inside the crop, at least ``margin`` voxels from its faces."""
        index = self.to_index(np.asarray(point_lps)[None])[0]
        return bool(np.all(index >= margin) and np.all(index <= self.size - 1 - margin))

    @property
    def key(self) -> tuple[int, int, int]:
        """The centre rounded to whole mm: crops with the same key are the same crop."""
        x, y, z = (round(v) for v in self.centre)
        return (x, y, z)

    def shifted(self, axis: int, sign: int, fraction: float) -> CropGrid:
        """The crop moved along one of its axes by ``fraction`` of its extent."""
        step = self.direction[:, axis] * sign * fraction * self.extent_mm
        centre = tuple(float(v) for v in np.asarray(self.centre) + step)
        return CropGrid(centre, self.size, self.spacing, self.orientation)  # type: ignore[arg-type]


def crossed_faces(mask: np.ndarray, grid: CropGrid, shift: float) -> list[CropGrid]:
    """The crops beyond the faces of ``grid`` that ``mask`` (on the crop, [dim0, dim1, dim2])
    crosses with at least ``FACE_SHARE`` of its widest section, moved by ``shift`` of the
    crop's extent."""
    found = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        widest = int(mask.sum(axis=others).max())
        for sign, face in ((-1, slice(0, BORDER_VOXELS)), (1, slice(-BORDER_VOXELS, None))):
            section = np.take(mask, np.arange(mask.shape[axis])[face], axis=axis)
            crossing = int(section.sum(axis=others).max())
            if crossing > 0 and crossing >= FACE_SHARE * widest:
                found.append(grid.shifted(axis, sign, shift))
    return found


def on_lattice(point: Sequence[float], step: float) -> tuple[float, float, float]:
    """``point`` rounded to a lattice of ``step`` mm (unchanged when ``step`` <= 0)."""
    if step <= 0:
        return (float(point[0]), float(point[1]), float(point[2]))
    x, y, z = (float(np.round(v / step) * step) for v in point)
    return (x, y, z)


def array_to_crop(volume: sitk.Image, grid: CropGrid, default: float = 0.0,
                  interpolator: int = sitk.sitkLinear) -> np.ndarray:
    """Sample ``volume`` on the crop grid: float32 array indexed [dim0, dim1, dim2]."""
    sampled = sitk.Resample(volume, grid.reference(), sitk.Transform(), interpolator, default,
                            sitk.sitkFloat32)
    return np.ascontiguousarray(sitk.GetArrayFromImage(sampled).transpose(2, 1, 0))


def crop_to_image(values: np.ndarray, grid: CropGrid) -> sitk.Image:
    """A crop-grid array [dim0, dim1, dim2] as a SimpleITK image with the crop's geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(values.transpose(2, 1, 0)))
    image.CopyInformation(grid.reference())
    return image


def footprint(volume: sitk.Image, grid: CropGrid) -> tuple[np.ndarray, np.ndarray] | None:
    """Index box [low, high) of ``volume`` (x, y, z order) that the crop covers, or None."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)],
                       dtype=float) * (grid.size - 1)
    points = grid.to_lps(corners)
    indices = np.array([volume.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in points])
    low = np.maximum(np.floor(indices.min(axis=0)).astype(int), 0)
    high = np.minimum(np.ceil(indices.max(axis=0)).astype(int) + 1, np.array(volume.GetSize()))
    if np.any(high <= low):
        return None
    return low, high


def paste_region(
    volume: sitk.Image, values: np.ndarray, grid: CropGrid, default: float,
    interpolator: int = sitk.sitkLinear,
) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """Resample crop values onto the part of ``volume``'s grid the crop covers.

    Returns the numpy slices ([z, y, x] order, as ``sitk.GetArrayFromImage``) and the values
    there, or None when the crop lies outside the volume.
    """
    box = footprint(volume, grid)
    if box is None:
        return None
    low, high = box
    reference = sitk.Image([int(v) for v in high - low], sitk.sitkFloat32)
    reference.SetSpacing(volume.GetSpacing())
    reference.SetDirection(volume.GetDirection())
    reference.SetOrigin(volume.TransformIndexToPhysicalPoint([int(v) for v in low]))
    sampled = sitk.Resample(crop_to_image(values.astype(np.float32), grid), reference,
                            sitk.Transform(), interpolator, default, sitk.sitkFloat32)
    slices = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low[::-1], high[::-1], strict=True))
    return slices, sitk.GetArrayFromImage(sampled)
