"""The key image's picture: a coronal MIP with outlines, organ labels, lesion numbers,
reference markers and L/R markers.

Shown as radiologists read coronal PET: head at the top, patient's right on the viewer's left,
inverted grey scale (dark = high uptake).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import Lesion
from seganypet_node.measure.reference import ReferenceKind, ReferenceRegion
from seganypet_node.outputs.seg import REFERENCE_RGB, lesion_colour

SUV_WINDOW = 8.0  # top of the grey scale in SUVbw (black); tissue at ~1 stays light
FILL_ALPHA = 0.30
MARKER_RADIUS = 6
REFERENCE_TAGS = {ReferenceKind.LIVER: "liver ref", ReferenceKind.BLOOD_POOL: "blood pool"}
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Box = tuple[float, float, float, float]  # left, top, right, bottom in picture pixels


@dataclass(frozen=True)
class MipGeometry:
    """Where a voxel's (z, x) lands on the picture.

    Parameters
    ----------
    shape : tuple of int
        (slices, columns) of the projection.
    size : tuple of int
        (width, height) of the picture in pixels.
    flip_rows, flip_columns : bool
        Whether slices run upwards / columns run towards the patient's right in the array.
    """

    shape: tuple[int, int]
    size: tuple[int, int]
    flip_rows: bool
    flip_columns: bool

    @classmethod
    def of(cls, shape: tuple[int, int], spacing_zyx: Sequence[float],
           direction: Sequence[float], height: int) -> MipGeometry:
        """The geometry of a (z, x) projection drawn ``height`` pixels high, true to scale."""
        width = max(1, round(shape[1] * spacing_zyx[2] / spacing_zyx[0] * height / shape[0]))
        # Index 0 is the lowest slice (feet side) when z runs up: flip to put the head up;
        # x running towards the patient's right is flipped to put the right on the left.
        return cls(shape, (width, height), direction[8] > 0, direction[0] < 0)

    def orient(self, projection: np.ndarray) -> np.ndarray:
        """A (z, x) array turned for display."""
        if self.flip_rows:
            projection = projection[::-1]
        if self.flip_columns:
            projection = projection[:, ::-1]
        return np.ascontiguousarray(projection)

    def point(self, z: float, x: float) -> tuple[float, float]:
        """Picture (column, row) of the centre of voxel (z, x)."""
        row = self.shape[0] - 1 - z if self.flip_rows else z
        column = self.shape[1] - 1 - x if self.flip_columns else x
        return ((column + 0.5) * self.size[0] / self.shape[1],
                (row + 0.5) * self.size[1] / self.shape[0])


def window_top(mip: np.ndarray, unit: Unit) -> float:
    """The value shown black: SUV 8, or the 99.5th percentile without SUV."""
    return SUV_WINDOW if unit.is_suv else float(np.percentile(mip, 99.5)) or 1.0


def mip_picture(values: np.ndarray, geometry: MipGeometry, top: float,
                outlines: Sequence[tuple[BoxMask, tuple[int, int, int]]]) -> Image.Image:
    """The MIP in grey with each (mask, colour) outline, resized to ``geometry.size``."""
    mip = geometry.orient(values.max(axis=1))
    level = np.clip(mip / top, 0.0, 1.0)
    picture = np.repeat((255.0 * (1.0 - level)).astype(np.uint8)[..., None], 3, axis=-1)
    for mask, rgb in outlines:
        picture = _overlay(picture, geometry.orient(mask.any_along(1)), rgb)
    return Image.fromarray(picture).resize(geometry.size, Image.Resampling.BILINEAR)


def annotate(image: Image.Image, geometry: MipGeometry, lesions: Sequence[Lesion],
             references: Sequence[ReferenceRegion]) -> list[Box]:
    """Number each lesion beside it, mark each reference centre, and put L/R in the corners.

    Returns the boxes drawn on, so the organ labels can keep off them.
    """
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=13)
    boxes: list[Box] = []
    for lesion in lesions:
        right, top = lesion_anchor(lesion, geometry)
        boxes.append(_label(draw, (right + 3, top - 4), str(lesion.number),
                            lesion_colour(lesion.number), font))
    for region in references:
        x, y = geometry.point(region.centre_index[0], region.centre_index[2])
        r = MARKER_RADIUS
        draw.ellipse((x - r, y - r, x + r, y + r), outline="black", width=2,
                     fill=REFERENCE_RGB[region.name])
        boxes.append((x - r, y - r, x + r, y + r))
        boxes.append(_label(draw, (x + r + 3, y - 7), REFERENCE_TAGS[region.name],
                            (255, 255, 255), small))
    width = geometry.size[0]
    # The patient's right is on the viewer's left (see MipGeometry.of).
    for text, x in (("R", 6), ("L", width - 6 - draw.textlength("L", font=font))):
        box = (x - 3, 4, x + draw.textlength(text, font=font) + 3, 24)
        draw.rectangle(box, fill="white", outline="black")
        draw.text((x, 5), text, fill="black", font=font)
        boxes.append(box)
    return boxes


def lesion_anchor(lesion: Lesion, geometry: MipGeometry) -> tuple[float, float]:
    """Picture (column, row) of the lesion's projected box's top-right corner."""
    z, _, x = lesion.mask.indices().T
    corners = [geometry.point(zz, xx) for zz in (z.min(), z.max()) for xx in (x.min(), x.max())]
    half = 0.5 * geometry.size[0] / geometry.shape[1]
    return max(c[0] for c in corners) + half, min(c[1] for c in corners) - half


def _label(draw: ImageDraw.ImageDraw, at: tuple[float, float], text: str,
           rgb: tuple[int, int, int], font: Font) -> Box:
    """Text in ``rgb`` with a black rim, readable on light and dark uptake alike; its box."""
    draw.text(at, text, fill=rgb, font=font, stroke_width=2, stroke_fill="black")
    return draw.textbbox(at, text, font=font, stroke_width=2)


def _overlay(picture: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    out = picture.astype(np.float32)
    colour = np.array(rgb, np.float32)
    out[mask] = (1 - FILL_ALPHA) * out[mask] + FILL_ALPHA * colour
    edge = mask & ~ndimage.binary_erosion(mask)
    out[edge] = colour
    return out.astype(np.uint8)
