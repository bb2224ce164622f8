"""Key image: a coronal MIP of the PET with the organ outlines, a legend and the uptake table.

A Secondary Capture (RGB) that any PACS viewer shows, for sites whose viewers cannot display
SEG or SR. Shown as radiologists read coronal PET: head at the top, patient's right on the
viewer's left, inverted grey scale (dark = high uptake). No patient identifiers are burned in;
the header carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from scipy import ndimage

from seganypet_node import __version__
from seganypet_node.imaging.units import Unit
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.measure.uptake import UptakeStats
from seganypet_node.organs import display_label
from seganypet_node.outputs.seg import LESION_RGB, MANUFACTURER, SegmentMask

IMAGE_HEIGHT = 760
PANEL_WIDTH = 560
SUV_WINDOW = 8.0  # top of the grey scale in SUVbw (black); tissue at ~1 stays light
FILL_ALPHA = 0.30


@dataclass(frozen=True)
class KeyImageRow:
    """One line of the table: a segment and its measurements."""

    segment: SegmentMask
    stats: UptakeStats


def render_key_image(values: np.ndarray, spacing_zyx: Sequence[float],
                     direction: Sequence[float], rows: Sequence[KeyImageRow],
                     references: Sequence[ReferenceRegion], unit: Unit,
                     footer: Sequence[str]) -> np.ndarray:
    """The RGB picture (rows, columns, 3) uint8: MIP with outlines on the left, table right."""
    mip = _oriented(values.max(axis=1), direction)
    masks = [_oriented(np.asarray(row.segment.mask.any(axis=1)), direction) for row in rows]
    height = IMAGE_HEIGHT
    width = max(1, round(mip.shape[1] * spacing_zyx[2] / spacing_zyx[0]
                             * height / mip.shape[0]))
    picture = _grey(mip, unit)
    for row, mask in zip(rows, masks, strict=True):
        picture = _overlay(picture, mask, _colour(row.segment))
    mip_image = Image.fromarray(picture).resize((width, height), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (width + PANEL_WIDTH, height), "white")
    canvas.paste(mip_image, (0, 0))
    _draw_panel(ImageDraw.Draw(canvas), width + 16, rows, references, unit, footer)
    return np.asarray(canvas, dtype=np.uint8)


def build_key_image(reference: Dataset, picture: np.ndarray,
                    series_number: int = 903) -> hd.sc.SCImage:
    """Secondary Capture of ``picture`` in the patient's study (attributes from ``reference``)."""
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference, pixel_array=picture, photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT", series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, patient_orientation=("L", "F"),
        transfer_syntax_uid="1.2.840.10008.1.2.1")
    image.SeriesDescription = "SegAnyPET key image"
    image.BurnedInAnnotation = "YES"
    # A whole body is no paired part: "U" (unpaired) satisfies General Series' Laterality
    # condition without an empty value.
    image.ImageLaterality = "U"
    image.SoftwareVersions = __version__
    return image


def _oriented(projection: np.ndarray, direction: Sequence[float]) -> np.ndarray:
    """(z, x) projection turned so the head is up and the patient's right is on the left."""
    if direction[8] > 0:  # index 0 is the lowest slice (feet side): flip to put the head up
        projection = projection[::-1]
    if direction[0] < 0:  # x runs towards the patient's right
        projection = projection[:, ::-1]
    return np.ascontiguousarray(projection)


def _grey(mip: np.ndarray, unit: Unit) -> np.ndarray:
    top = SUV_WINDOW if unit.is_suv else float(np.percentile(mip, 99.5)) or 1.0
    level = np.clip(mip / top, 0.0, 1.0)
    grey = (255.0 * (1.0 - level)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def _overlay(picture: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    out = picture.astype(np.float32)
    colour = np.array(rgb, np.float32)
    out[mask] = (1 - FILL_ALPHA) * out[mask] + FILL_ALPHA * colour
    edge = mask & ~ndimage.binary_erosion(mask)
    out[edge] = colour
    return out.astype(np.uint8)


def _colour(segment: SegmentMask) -> tuple[int, int, int]:
    return segment.organ.rgb if segment.organ else LESION_RGB


COLUMNS = (("region", 0), ("ml", 230), ("mean", 300), ("max", 370), ("peak", 440))


def _draw_panel(draw: ImageDraw.ImageDraw, left: int, rows: Sequence[KeyImageRow],
                references: Sequence[ReferenceRegion], unit: Unit, footer: Sequence[str]) -> None:
    title = ImageFont.load_default(size=20)
    font = ImageFont.load_default(size=15)
    draw.text((left, 14), "SegAnyPET organ uptake", fill="black", font=title)
    draw.text((left, 50), f"values in {unit}", fill="black", font=font)
    y = 78
    _table_row(draw, left + 22, y, [name for name, _ in COLUMNS], font)
    y += 22
    for row in rows:
        draw.rectangle((left, y + 3, left + 14, y + 15), fill=_colour(row.segment))
        s = row.stats
        cells = [display_label(row.segment.label), f"{s.volume_ml:.0f}", f"{s.mean:.2f}",
                 f"{s.maximum:.2f}", f"{s.peak:.2f}"]
        _table_row(draw, left + 22, y, cells, font)
        y += 21
    y += 12
    for region in references:
        draw.text((left, y), f"{region.name} reference: mean {region.mean:.2f}, "
                  f"SD {region.sd:.2f}", fill="black", font=font)
        y += 21
    y += 12
    for line in footer:
        draw.text((left, y), line[:72], fill=(90, 90, 90), font=font)
        y += 20


def _table_row(draw: ImageDraw.ImageDraw, left: int, y: int, cells: Sequence[str],
               font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> None:
    """First cell left-aligned, the numbers right-aligned on their column's right edge."""
    draw.text((left, y), cells[0], fill="black", font=font)
    for text, (_, right) in zip(cells[1:], COLUMNS[1:], strict=True):
        draw.text((left + right - draw.textlength(text, font=font), y), text, fill="black",
                  font=font)
