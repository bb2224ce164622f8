"""The key image reads at a glance: organ colours far apart (left from right too) and legible on
white and on a dark MIP, each organ labelled on the picture without labels piling up, and an
SUVpeak above SUVmax explained."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.organs import ORGANS, organ
from seganypet_node.outputs.key_image import PANEL_WIDTH, render_key_image
from seganypet_node.outputs.key_image_labels import place_labels, short_label
from seganypet_node.outputs.key_image_mip import MipGeometry
from seganypet_node.outputs.key_image_panel import (
    PEAK_MARK,
    PEAK_NOTE,
    organ_notes,
    organ_rows,
)
from seganypet_node.outputs.seg import LESION_PALETTE, REFERENCE_RGB, organ_segment
from tests.unit.test_key_image_outputs import DIRECTION, colour_mask, content
from tests.unit.test_summary_outputs import SPACING


def _linear(rgb: tuple[int, int, int]) -> np.ndarray:
    c = np.asarray(rgb, dtype=float) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ _linear(rgb)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio."""
    la, lb = (float(np.dot([0.2126, 0.7152, 0.0722], _linear(c))) for c in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def test_every_pair_of_colours_is_far_apart_left_and_right_included() -> None:
    others = [*LESION_PALETTE, *REFERENCE_RGB.values()]
    for a, b in itertools.combinations(ORGANS, 2):
        assert np.linalg.norm(_lab(a.rgb) - _lab(b.rgb)) >= 40, (a.name, b.name)
    for o, other in itertools.product(ORGANS, others):
        assert np.linalg.norm(_lab(o.rgb) - _lab(other)) >= 40, (o.name, other)
    assert organ("lung_left").rgb != organ("lung_right").rgb
    assert organ("kidney_left").rgb != organ("kidney_right").rgb


@pytest.mark.parametrize("background", [(255, 255, 255), (0, 0, 0)], ids=["white", "black"])
def test_every_organ_colour_reads_on_white_and_on_black(background: tuple[int, int, int]
                                                        ) -> None:
    for o in ORGANS:
        assert _contrast(o.rgb, background) >= 3.0, o.name


def test_every_organ_colour_tints_grey_pet_where_a_viewer_fills_it() -> None:
    """Before: OHIF's fill over a grey spleen pixel changed it by less than its threshold."""
    for o in ORGANS:
        _, a, b = _lab(o.rgb)
        assert np.hypot(a, b) >= 30, o.name


def test_short_labels_name_the_side_as_the_corner_marks_do() -> None:
    empty = BoxMask.of(np.zeros((1, 1, 1), bool))
    names = {o.name: short_label(organ_segment(o, empty)) for o in ORGANS}
    assert names["lung_left"] == "L lung" and names["lung_right"] == "R lung"
    assert names["kidney_left"] == "L kidney" and names["urinary_bladder"] == "Bladder"
    assert len(set(names.values())) == len(ORGANS)


def _boxes_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_each_organ_is_labelled_on_the_picture_clear_of_marks_and_other_labels() -> None:
    shown, values = content()
    pixels = render_key_image(values, SPACING, DIRECTION, shown)
    geometry = MipGeometry.of((values.shape[0], values.shape[2]), SPACING, DIRECTION,
                              pixels.shape[0])
    segments = [row.segment for row in shown.organs]
    marks = [(0.0, 0.0, 30.0, 26.0)]  # as the R corner mark would be
    labels = place_labels(segments, geometry, marks,
                          [lesion.mask for lesion in shown.lesions.lesions])
    assert [label.text for label in labels] == [short_label(s) for s in segments if s.mask.any()]
    for a, b in itertools.combinations(labels, 2):
        assert not _boxes_overlap(a.box, b.box), (a.text, b.text)
    width, height = geometry.size
    for label in labels:
        assert not _boxes_overlap(label.box, marks[0]), label.text
        left, top, right, bottom = label.box
        assert left >= 0 and right <= width and top >= 0 and bottom <= height, label.text
        # the label is drawn in its organ's colour where placed
        x0, y0, x1, y1 = (int(v) for v in label.box)
        assert colour_mask(pixels[y0:y1 + 1, x0:x1 + 1], label.rgb).sum() > 5, label.text


def test_a_peak_above_the_max_is_marked_and_explained_once() -> None:
    shown, values = content()
    first = shown.organs[0]
    hot = dataclasses.replace(first, stats=dataclasses.replace(
        first.stats, maximum=3.48, peak=3.62))
    same = dataclasses.replace(first, stats=dataclasses.replace(
        first.stats, maximum=3.481, peak=3.484))  # the same when printed
    assert organ_rows([hot])[0][-1] == PEAK_MARK and organ_rows([same])[0][-1] == ""
    assert organ_notes([hot, hot]) == [PEAK_NOTE] and organ_notes([same]) == []
    marked = render_key_image(values, SPACING, DIRECTION,
                              dataclasses.replace(shown, organs=[hot, *shown.organs[1:]]))
    plain = render_key_image(values, SPACING, DIRECTION, shown)
    assert not np.array_equal(marked[:, -PANEL_WIDTH:], plain[:, -PANEL_WIDTH:])
