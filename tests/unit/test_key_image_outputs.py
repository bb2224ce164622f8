"""The key image: lesions outlined, numbered and tabled, reference sites and L/R marked, the
grey scale shown, and the scan's date, uptake time, activity and weight in the footer."""

from __future__ import annotations

import dataclasses

import numpy as np
from pydicom.dataset import Dataset

from seganypet_node.imaging.units import Unit
from seganypet_node.measure.reference import ReferenceKind
from seganypet_node.organs import organ
from seganypet_node.outputs.key_image import (
    IMAGE_HEIGHT,
    PANEL_WIDTH,
    KeyImageContent,
    KeyImageRow,
    render_key_image,
)
from seganypet_node.outputs.key_image_facts import scan_facts
from seganypet_node.outputs.key_image_mip import MipGeometry, lesion_anchor
from seganypet_node.outputs.key_image_panel import lesion_rows, reference_lines
from seganypet_node.outputs.seg import LESION_PALETTE, REFERENCE_RGB, organ_segment
from tests.unit.test_summary_outputs import SPACING, synthetic_result

DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # LPS, z running up


def content(search_lesions: bool = True) -> tuple[KeyImageContent, np.ndarray]:
    result, values = synthetic_result(search_lesions)
    rows = [KeyImageRow(organ_segment(organ(o.organ), o.mask), o.stats)
            for o in result.organs if o.mask is not None and o.stats is not None]
    footer = ["study 2024-03-15; uptake 62 min; injected 250 MBq; weight 72 kg"]
    return KeyImageContent(rows, result.references, Unit.SUVBW, footer, result.lesions), values


def render(search_lesions: bool = True) -> np.ndarray:
    shown, values = content(search_lesions)
    return render_key_image(values, SPACING, DIRECTION, shown)


def colour_mask(pixels: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.array(rgb), axis=-1)


def test_lesion_table_rows_are_number_suvmax_mtv_deauville_and_site() -> None:
    result, _ = synthetic_result()
    first, second = result.lesions.lesions
    assert lesion_rows(result.lesions.lesions) == [
        ("1", "9.00", f"{first.stats.volume_ml:.2f}", "4", "liver"),
        ("2", "6.00", f"{second.stats.volume_ml:.2f}", "-", "outside the segmented organs")]


def test_reference_lines_name_the_site_and_give_sul() -> None:
    result, _ = synthetic_result()
    lines = reference_lines(result.references, Unit.SUVBW)
    assert lines[1] == ("blood pool (descending thoracic aorta): mean 1.60, SD 0.10 SUVbw; "
                        "SUL 1.20 +- 0.08")


def test_lesions_are_outlined_numbered_and_tabled() -> None:
    with_lesions, without = render(), render(search_lesions=False)
    width = with_lesions.shape[1] - PANEL_WIDTH
    for rgb in LESION_PALETTE:
        shown = colour_mask(with_lesions, rgb)
        assert shown[:, :width].any() and shown[:, width:].sum() > 100, rgb  # MIP, swatch
        assert not colour_mask(without, rgb).any()
    # Each lesion's number is drawn beside (right of) its outline, in its colour.
    shown, values = content()
    geometry = MipGeometry.of((values.shape[0], values.shape[2]), SPACING, DIRECTION,
                              with_lesions.shape[0])
    for lesion in shown.lesions.lesions:
        right, top = lesion_anchor(lesion, geometry)
        box = colour_mask(with_lesions, LESION_PALETTE[lesion.number - 1])[
            int(top) - 6:int(top) + 18, int(right) + 1:int(right) + 16]
        assert box.sum() > 5, lesion.label
    # The panel without lesions says they were not assessed instead of showing a table.
    assert not np.array_equal(with_lesions[:, width:], without[:, width:])


def test_reference_sites_and_left_right_are_marked_on_the_mip() -> None:
    pixels = render()
    width = pixels.shape[1] - PANEL_WIDTH
    shown, values = content()
    geometry = MipGeometry.of((values.shape[0], values.shape[2]), SPACING, DIRECTION,
                              pixels.shape[0])
    for region in shown.references:
        x, y = geometry.point(region.centre_index[0], region.centre_index[2])
        marker = colour_mask(pixels, REFERENCE_RGB[region.name])[
            int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4]
        assert marker.sum() >= 20, region.name
    liver_marker = colour_mask(pixels, REFERENCE_RGB[ReferenceKind.LIVER])[:, :width]
    # The liver reference is on the patient's right: the viewer's left.
    assert np.nonzero(liver_marker)[1].mean() < width / 2
    for corner in (pixels[4:25, :26], pixels[4:25, width - 26:width]):  # "R" and "L" boxes
        assert colour_mask(corner, (0, 0, 0)).sum() > 20
        assert colour_mask(corner, (255, 255, 255)).sum() > 20


def test_the_grey_scale_bar_runs_white_to_black() -> None:
    panel = render()[:, -PANEL_WIDTH:]
    grey = panel[..., 0].astype(int)
    steps = np.diff(grey, axis=1)
    runs = [(row, col) for row in range(panel.shape[0])
            for col in np.nonzero(np.convolve(steps[row] == -1, np.ones(200), "valid") == 200)[0]]
    assert runs, "no 0-to-top grey ramp in the panel"


def test_the_image_grows_when_the_lesion_table_needs_it() -> None:
    shown, values = content()
    first = shown.lesions.lesions[0]
    many = tuple(dataclasses.replace(first, number=k) for k in range(1, 21))
    crowded = dataclasses.replace(shown, lesions=dataclasses.replace(shown.lesions, lesions=many),
                                  footer=[f"note {k}" for k in range(12)])
    pixels = render_key_image(values, SPACING, DIRECTION, crowded)
    assert pixels.shape[0] > IMAGE_HEIGHT


def test_scan_facts_come_from_the_pet_header() -> None:
    ds = Dataset()
    ds.StudyDate, ds.SeriesDate, ds.SeriesTime = "20240315", "20240315", "101500"
    ds.PatientWeight = "72"
    ds.PatientName, ds.PatientID = "DOE^JANE", "ID123"
    item = Dataset()
    item.RadionuclideTotalDose = "250000000"
    item.RadiopharmaceuticalStartTime = "091300"
    ds.RadiopharmaceuticalInformationSequence = [item]
    facts = scan_facts(ds)
    assert facts.line() == "study 2024-03-15; uptake 62 min; injected 250 MBq; weight 72 kg"
    assert "DOE" not in facts.line() and "ID123" not in facts.line()
    item.RadiopharmaceuticalStartTime = "235000"  # injected before midnight
    ds.SeriesTime = "004500"
    assert round(scan_facts(ds).uptake_min or 0) == 55
    item.RadiopharmaceuticalStartDateTime = "20240315000000"
    assert round(scan_facts(ds).uptake_min or 0) == 45
    assert scan_facts(Dataset()).line() == ("study date unknown; uptake time unknown; "
                                            "injected activity unknown; weight unknown")

