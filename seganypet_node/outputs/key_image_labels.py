"""Organ labels on the key image's MIP: each organ's short name in its colour, beside its
outline where there is room, nudged off other labels and marks, with a leader when moved away.

Places are chosen by cost (see the COST_ weights), so labels neither pile up nor hide lesions;
the placements are returned, so tests can check them rather than pixels alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.organs import display_label
from seganypet_node.outputs.key_image_mip import Box, Font, MipGeometry
from seganypet_node.outputs.seg import SegmentMask

LABEL_SIZE = 13
# White: every organ colour has WCAG contrast >= 3 on white (organs.py), so the text reads on
# the white background as is, and the rim sets it off where high uptake makes the MIP dark.
LABEL_HALO = (255, 255, 255)
LABEL_GAP = 3  # pixels between an outline and a label beside it
LEADER_GAP = 6  # a label further than this from its organ gets a line to it
SHORT_NAMES = {"urinary_bladder": "Bladder"}
# What a label pays for each pixel it covers, when its place is chosen: another label or mark
# is all but forbidden, a lesion's projection hides a finding, an organ's only its uptake; and
# for each pixel of gap to its organ, so that it stays close.
COST_TAKEN, COST_LESION, COST_ORGAN, COST_GAP, COST_CENTRE = 1000.0, 50.0, 1.0, 4.0, 0.1


@dataclass(frozen=True)
class OrganLabel:
    """An organ's name as drawn on the picture.

    Parameters
    ----------
    text : str
        Its short name (``Liver``, ``L kidney``).
    rgb : tuple of int
        The organ's colour.
    at : tuple of float
        Where the text is drawn (PIL's text origin).
    box : Box
        The text's box, halo included.
    anchor : tuple of float | None
        The point of the organ a leader line runs to; None when the label is beside it.
    """

    text: str
    rgb: tuple[int, int, int]
    at: tuple[float, float]
    box: Box
    anchor: tuple[float, float] | None


def short_label(segment: SegmentMask) -> str:
    """A name short enough for the MIP: ``Liver``, ``L kidney`` (the patient's left, like the
    L/R corner marks), ``Bladder``."""
    organ = segment.organ
    if organ is None:
        return display_label(segment.label)
    name = SHORT_NAMES.get(organ.name, organ.snomed_meaning)
    return f"{organ.laterality[0].upper()} {name.lower()}" if organ.laterality else name


def projection(mask: BoxMask, geometry: MipGeometry) -> np.ndarray:
    """Boolean (height, width): where a mask's coronal projection is drawn."""
    shown = Image.fromarray(geometry.orient(mask.any_along(1)))
    return np.asarray(shown.resize(geometry.size, Image.Resampling.NEAREST), dtype=bool)


def place_labels(segments: Sequence[SegmentMask], geometry: MipGeometry,
                 taken: Sequence[Box], lesion_masks: Sequence[BoxMask] = ()
                 ) -> list[OrganLabel]:
    """A label for each segment with voxels, beside its outline where there is room, else
    nudged up or down (with a leader line) or on it, so that no label covers another, a
    lesion number, a reference or an L/R mark, and as little of the lesions as can be."""
    font = ImageFont.load_default(size=LABEL_SIZE)
    shown = [(segment, projection(segment.mask, geometry)) for segment in segments]
    shown = [(segment, where) for segment, where in shown if where.any()]
    cover = np.zeros(geometry.size[::-1])
    for _, where in shown:
        cover += COST_ORGAN * where
    for mask in lesion_masks:
        cover += COST_LESION * projection(mask, geometry)
    # a summed-area table gives any box's covered cost in four look-ups
    summed = np.pad(cover.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    boxes, labels = list(taken), []
    for segment, where in shown:
        label = _place(short_label(segment), segment.colour, where, font, summed, boxes)
        labels.append(label)
        boxes.append(label.box)
    return labels


def _place(text: str, rgb: tuple[int, int, int], where: np.ndarray, font: Font,
           summed: np.ndarray, boxes: Sequence[Box]) -> OrganLabel:
    """The cheapest of the candidate places for one label (see the COST_ weights)."""
    offset = font.getbbox(text, stroke_width=2)
    gap, nearest = ndimage.distance_transform_edt(~where, return_indices=True)
    rows, columns = np.nonzero(where)
    centre = (float(columns.mean()), float(rows.mean()))

    def cost(box: Box) -> float:
        x0, y0, x1, y1 = _pixels(box, where.shape)
        return (COST_TAKEN * sum(_overlap(box, other) for other in boxes)
                + summed[y1, x1] - summed[y0, x1] - summed[y1, x0] + summed[y0, x0]
                + COST_GAP * float(gap[y0:y1, x0:x1].min())
                + COST_CENTRE * float(np.hypot(0.5 * (box[0] + box[2]) - centre[0],
                                               0.5 * (box[1] + box[3]) - centre[1])))

    box = min(_candidates(where, offset, (where.shape[1], where.shape[0])), key=cost)
    x0, y0, x1, y1 = _pixels(box, where.shape)
    anchor = None
    if gap[y0:y1, x0:x1].min() > LEADER_GAP:
        y, x = nearest[:, (y0 + y1) // 2, (x0 + x1) // 2]
        anchor = (float(x) + 0.5, float(y) + 0.5)
    return OrganLabel(text, rgb, (box[0] - offset[0], box[1] - offset[1]), box, anchor)


def draw_labels(image: Image.Image, labels: Sequence[OrganLabel]) -> None:
    """Each label in its organ's colour with a white rim, a rimmed leader where it has one."""
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=LABEL_SIZE)
    for label in labels:
        if label.anchor is not None:
            left, top, right, bottom = label.box
            start = (min(max(label.anchor[0], left), right), min(max(label.anchor[1], top), bottom))
            draw.line((start, label.anchor), fill=LABEL_HALO, width=3)
            draw.line((start, label.anchor), fill=label.rgb, width=1)
        draw.text(label.at, label.text, fill=label.rgb, font=font, stroke_width=2,
                  stroke_fill=LABEL_HALO)


def _candidates(where: np.ndarray, offset: Box, size: tuple[int, int]) -> list[Box]:
    """Boxes of the text's size left and right of the outline at its centre row, above it
    and on its centre, each also nudged up and down by whole lines; all inside the picture."""
    width, height = offset[2] - offset[0], offset[3] - offset[1]
    rows, columns = np.nonzero(where)
    middle_row, middle = float(rows.mean()), float(columns.mean())
    in_row = columns[rows == round(middle_row)]
    in_row = in_row if in_row.size else columns
    y = middle_row - 0.5 * height
    starts = [(float(in_row.min()) - LABEL_GAP - width, y),
              (float(in_row.max()) + 1 + LABEL_GAP, y),
              (middle - 0.5 * width, float(rows.min()) - LABEL_GAP - height),
              (middle - 0.5 * width, y)]
    return [_inside((x, y + k * (height + 2), x + width, y + k * (height + 2) + height), size)
            for x, y in starts for k in (0, -1, 1, -2, 2, -3, 3)]


def _inside(box: Box, size: tuple[int, int]) -> Box:
    """The box shifted into the picture."""
    dx = max(0.0, -box[0]) - max(0.0, box[2] - size[0])
    dy = max(0.0, -box[1]) - max(0.0, box[3] - size[1])
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _pixels(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Whole-pixel (x0, y0, x1, y1) of a box, clipped to an array of ``shape``, never empty."""
    x0 = min(max(int(box[0]), 0), shape[1] - 1)
    y0 = min(max(int(box[1]), 0), shape[0] - 1)
    return (x0, y0, min(max(int(np.ceil(box[2])), x0 + 1), shape[1]),
            min(max(int(np.ceil(box[3])), y0 + 1), shape[0]))


def _overlap(a: Box, b: Box) -> float:
    """Area two boxes share."""
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
