"""The pictures of the review page: a PET plane or the MIP in an SUV window, with each
finding's outline in its colour, as PNG; and the voxel a click on one of them meant.

Pictures are at the image's own voxels (one pixel per voxel); the page stretches them to
their physical aspect. Radiological convention: the patient's right on the picture's left,
head up, anterior up (axial) and left (sagittal). The MIP is coronal; a click on it means
the hottest voxel along the ray.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask

FILL_ALPHA = 0.22


class Plane(enum.StrEnum):
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    MIP = "mip"


@dataclass(frozen=True)
class Overlay:
    """A finding drawn on a picture."""

    mask: BoxMask
    rgb: tuple[int, int, int]
    selected: bool = False


@dataclass(frozen=True)
class Window:
    """The SUV (or value) range from white to black."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"window {self.low}..{self.high}: the top must be above the bottom")


def slice_count(plane: Plane, shape: Sequence[int]) -> int:
    """How many pictures the plane has (1 for the MIP)."""
    return {Plane.AXIAL: shape[0], Plane.CORONAL: shape[1], Plane.SAGITTAL: shape[2],
            Plane.MIP: 1}[plane]


def render(values: np.ndarray, plane: Plane, index: int, window: Window,
           overlays: Sequence[Overlay], head_first: bool, mip: np.ndarray | None = None
           ) -> bytes:
    """The PNG of one picture (``head_first``: the first slice of ``values`` is the top;
    ``mip``: :func:`coronal_mip` of ``values``, when the caller keeps it)."""
    grey = _plane(values, plane, index, head_first, mip)
    level = np.clip((grey - window.low) / (window.high - window.low), 0.0, 1.0)
    rgb = np.repeat((255.0 * (1.0 - level))[..., None], 3, axis=2)
    for overlay in overlays:
        inside = _plane_mask(overlay.mask, plane, index, head_first)
        if not inside.any():
            continue
        colour = np.asarray(overlay.rgb, float)
        rgb[inside] = (1 - FILL_ALPHA) * rgb[inside] + FILL_ALPHA * colour
        edge = inside & ~ndimage.binary_erosion(inside)
        if overlay.selected:
            edge = ndimage.binary_dilation(edge) & ~ndimage.binary_erosion(inside, iterations=2)
        rgb[edge] = colour
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def voxel_at(values: np.ndarray, plane: Plane, index: int, row: int, col: int,
             head_first: bool) -> tuple[int, int, int]:
    """The [z, y, x] voxel a click at picture pixel (``row``, ``col``) meant.

    Raises
    ------
    ValueError
        The pixel or the slice is outside the picture.
    """
    _check_index(plane, index, values.shape)
    rows, cols = picture_shape(plane, values.shape)
    if not (0 <= row < rows and 0 <= col < cols):
        raise ValueError(f"pixel ({row}, {col}) is outside the {rows} x {cols} picture")
    z = row if head_first else values.shape[0] - 1 - row
    if plane is Plane.AXIAL:
        return (index, row, col)
    if plane is Plane.CORONAL:
        return (z, index, col)
    if plane is Plane.SAGITTAL:
        return (z, col, index)
    return (z, int(np.argmax(values[z, :, col])), col)


def default_window(values: np.ndarray) -> Window:
    """0 to a level that shows organs and lesions: the 99.5th percentile of the body, at
    least 5 (SUV)."""
    body = values[values > 0.1]
    top = float(np.percentile(body, 99.5)) if body.size else 1.0
    return Window(0.0, max(5.0, round(top, 1)))


def picture_shape(plane: Plane, shape: Sequence[int]) -> tuple[int, int]:
    """A picture's rows and columns."""
    z, y, x = shape
    return {Plane.AXIAL: (y, x), Plane.CORONAL: (z, x), Plane.SAGITTAL: (z, y),
            Plane.MIP: (z, x)}[plane]


def coronal_mip(values: np.ndarray) -> np.ndarray:
    """The maximum along the anterior-posterior axis (a whole pass over the volume: keep it)."""
    return values.max(axis=1)


def _check_index(plane: Plane, index: int, shape: Sequence[int]) -> None:
    count = slice_count(plane, shape)
    if not 0 <= index < count:
        raise ValueError(f"{plane.value} slice {index} is outside 0..{count - 1}")


def _plane(values: np.ndarray, plane: Plane, index: int, head_first: bool,
           mip: np.ndarray | None) -> np.ndarray:
    _check_index(plane, index, values.shape)
    picture = {Plane.AXIAL: lambda: values[index],
               Plane.CORONAL: lambda: values[:, index, :],
               Plane.SAGITTAL: lambda: values[:, :, index],
               Plane.MIP: lambda: coronal_mip(values) if mip is None else mip}[plane]()
    return picture if head_first or plane is Plane.AXIAL else picture[::-1]


def _plane_mask(mask: BoxMask, plane: Plane, index: int, head_first: bool) -> np.ndarray:
    if plane is Plane.MIP:
        picture = mask.any_along(1)
    else:
        axis = {Plane.AXIAL: 0, Plane.CORONAL: 1, Plane.SAGITTAL: 2}[plane]
        box = list(tuple(slice(0, n) for n in mask.shape))
        box[axis] = slice(index, index + 1)
        picture = np.squeeze(mask.within(tuple(box)), axis=axis)
    return picture if head_first or plane is Plane.AXIAL else picture[::-1]
