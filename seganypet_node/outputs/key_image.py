"""Key image: a coronal MIP with organ and lesion outlines, organ labels, lesion numbers,
reference sites and L/R markers beside the uptake, reference and lesion tables, grey scale
and scan figures.

A Secondary Capture (RGB) that any PACS viewer shows, for sites whose viewers cannot display
SEG or SR. No patient identifiers are burned in; the header carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from seganypet_node import __version__
from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import NOT_ASSESSED, LesionSearch
from seganypet_node.measure.reference import ReferenceRegion
from seganypet_node.outputs.key_image_labels import draw_labels, place_labels
from seganypet_node.outputs.key_image_mip import MipGeometry, annotate, mip_picture, window_top
from seganypet_node.outputs.key_image_panel import PANEL_WIDTH, KeyImageRow, draw_panel
from seganypet_node.outputs.seg import (
    MANUFACTURER,
    labelled_description,
    lesion_colour,
    stamp_series_time,
)

__all__ = ["IMAGE_HEIGHT", "PANEL_WIDTH", "KeyImageContent", "KeyImageRow", "build_key_image",
           "render_key_image"]

IMAGE_HEIGHT = 760  # at least; taller when the panel's text needs it


@dataclass(frozen=True, eq=False)
class KeyImageContent:
    """What the key image shows.

    Parameters
    ----------
    organs : sequence of KeyImageRow
        Organ segments and their measurements.
    references : sequence of ReferenceRegion
        Marked on the MIP and listed with their sites.
    unit : Unit
        The unit of the values and tables.
    footer : sequence of str
        Model, SUV rule, scan figures, notes.
    lesions : LesionSearch
        The lesions (outlined, numbered and tabled), or why they were not assessed.
    """

    organs: Sequence[KeyImageRow]
    references: Sequence[ReferenceRegion]
    unit: Unit
    footer: Sequence[str]
    lesions: LesionSearch = NOT_ASSESSED


def render_key_image(values: np.ndarray, spacing_zyx: Sequence[float],
                     direction: Sequence[float], content: KeyImageContent) -> np.ndarray:
    """The RGB picture (rows, columns, 3) uint8: annotated MIP on the left, panel right."""
    top = window_top(values.max(axis=1), content.unit)
    panel = draw_panel(content.organs, content.lesions, content.references, content.unit, top,
                       content.footer)
    height = max(IMAGE_HEIGHT, panel.height)
    geometry = MipGeometry.of((values.shape[0], values.shape[2]), spacing_zyx, direction,
                              height)
    lesions = content.lesions.lesions
    outlines = [(row.segment.mask, row.segment.colour) for row in content.organs]
    outlines += [(lesion.mask, lesion_colour(lesion.number)) for lesion in lesions]
    mip = mip_picture(values, geometry, top, outlines)
    taken = annotate(mip, geometry, lesions, content.references)
    draw_labels(mip, place_labels([row.segment for row in content.organs], geometry, taken,
                                  [lesion.mask for lesion in lesions]))
    width = geometry.size[0]
    canvas = Image.new("RGB", (width + PANEL_WIDTH, height), "white")
    canvas.paste(mip, (0, 0))
    canvas.paste(panel, (width, 0))
    return np.asarray(canvas, dtype=np.uint8)


def build_key_image(reference: Dataset, picture: np.ndarray, series_number: int = 903,
                    series_label: str = "research use only") -> hd.sc.SCImage:
    """Secondary Capture of ``picture`` in the patient's study (attributes from ``reference``)."""
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference, pixel_array=picture, photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT", series_instance_uid=generate_uid(),
        series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, patient_orientation=("L", "F"),
        transfer_syntax_uid="1.2.840.10008.1.2.1")
    image.SeriesDescription = labelled_description("SegAnyPET key image", series_label)
    image.BurnedInAnnotation = "YES"
    # A whole body is no paired part: "U" (unpaired) satisfies General Series' Laterality
    # condition without an empty value.
    image.ImageLaterality = "U"
    image.SoftwareVersions = __version__
    stamp_series_time(image)
    return image
