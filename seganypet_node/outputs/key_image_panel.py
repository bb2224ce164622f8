"""The key image's text panel: organ table, references, lesion table, grey scale and footer.

The rows are plain functions of the results (tested on their own); the drawing only lays them
out, so what a reader sees is what the functions return.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from seganypet_node.imaging.units import Unit
from seganypet_node.lesions.results import Lesion, LesionSearch
from seganypet_node.measure.reference import ReferenceKind, ReferenceRegion
from seganypet_node.measure.uptake import UptakeStats
from seganypet_node.organs import display_label
from seganypet_node.outputs.seg import SegmentMask, lesion_colour

PANEL_WIDTH = 560
MAX_LESION_ROWS = 15  # more are listed in the SR and summary.json
WRAP = 68  # characters per footer line at the footer's font size
# (title, right edge or left edge for the first/last columns, right-aligned?)
ORGAN_COLUMNS = (("region", 0, False), ("ml", 230, True), ("mean", 300, True),
                 ("max", 370, True), ("peak", 440, True), ("", 443, False))
# SUVpeak is PERCIST's: the sphere is centred in the organ but may reach beyond it, so beside
# hotter tissue (a lung beside the heart) it can exceed the organ's own SUVmax. The figure is
# kept as defined (the SR and summary.json carry the same), and the table says why.
PEAK_MARK = "**"
PEAK_NOTE = (f"{PEAK_MARK} SUVpeak > SUVmax: the 1 ml sphere reaches hotter tissue beside "
             "the organ")
LESION_COLUMNS = (("#", 0, False), ("SUVmax", 95, True), ("MTV ml", 175, True),
                  ("Deauville*", 265, True), ("site", 285, False))
REFERENCE_NAMES = {ReferenceKind.LIVER: "PERCIST liver", ReferenceKind.BLOOD_POOL: "blood pool"}
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Column = tuple[str, int, bool]


@dataclass(frozen=True)
class KeyImageRow:
    """One line of the organ table: a segment and its measurements."""

    segment: SegmentMask
    stats: UptakeStats


def organ_rows(rows: Sequence[KeyImageRow]) -> list[tuple[str, ...]]:
    """Cells of the organ table: name, ml, mean, max, peak, and PEAK_MARK where the peak
    shown is above the max shown."""
    return [(display_label(row.segment.label), f"{row.stats.volume_ml:.0f}",
             f"{row.stats.mean:.2f}", f"{row.stats.maximum:.2f}", f"{row.stats.peak:.2f}",
             PEAK_MARK if peak_above_max(row.stats) else "")
            for row in rows]


def peak_above_max(stats: UptakeStats) -> bool:
    """Whether SUVpeak shows above SUVmax, compared as printed (two decimals) so that no
    mark stands beside figures that read the same."""
    return float(f"{stats.peak:.2f}") > float(f"{stats.maximum:.2f}")


def organ_notes(rows: Sequence[KeyImageRow]) -> list[str]:
    """Footnotes under the organ table: why a marked SUVpeak exceeds SUVmax."""
    return [PEAK_NOTE] if any(peak_above_max(row.stats) for row in rows) else []


def lesion_rows(lesions: Sequence[Lesion]) -> list[tuple[str, ...]]:
    """Cells of the lesion table: number, SUVmax, MTV (ml), Deauville aid, site."""
    return [(str(lesion.number), f"{lesion.stats.maximum:.2f}", f"{lesion.stats.volume_ml:.2f}",
             "-" if lesion.deauville is None else str(lesion.deauville),
             _short_site(lesion.site))
            for lesion in lesions[:MAX_LESION_ROWS]]


def _short_site(site: str) -> str:
    """The site as the table has room for it: the organ, or the body region (outside the
    segmented organs), in at most 30 characters."""
    outside = "outside the segmented organs"
    if site.startswith(f"{outside}: "):
        site = site.removeprefix(f"{outside}: ") + " (no organ)"
    return display_label(site)[:30]


def reference_lines(references: Sequence[ReferenceRegion], unit: Unit) -> list[str]:
    """One line per reference: where it is, mean and SD, and in SUL when known."""
    lines = []
    for region in references:
        text = (f"{REFERENCE_NAMES[region.name]} ({region.site or 'site unknown'}): "
                f"mean {region.mean:.2f}, SD {region.sd:.2f} {unit}")
        if region.sul_mean is not None and region.sul_sd is not None:
            text += f"; SUL {region.sul_mean:.2f} +- {region.sul_sd:.2f}"
        lines.append(text)
    return lines


def lesion_heading(search: LesionSearch, unit: Unit) -> str:
    """What the lesion table is: its threshold, or why there is none."""
    if not search.assessed:
        return f"Lesions not assessed: {search.reason or 'reason not given'}"
    count = len(search.lesions)
    heading = f"Lesions: {count}" if count else "Lesions: none found"
    if search.threshold is not None:
        heading += f" (threshold {search.threshold.value:.2f} {unit})"
    return heading


def draw_panel(rows: Sequence[KeyImageRow], search: LesionSearch,
               references: Sequence[ReferenceRegion], unit: Unit, top: float,
               footer: Sequence[str]) -> Image.Image:
    """The panel, as tall as its text needs."""
    panel = Image.new("RGB", (PANEL_WIDTH, 2400), "white")
    draw = ImageDraw.Draw(panel)
    title = ImageFont.load_default(size=20)
    font = ImageFont.load_default(size=15)
    left = 16
    draw.text((left, 14), "SegAnyPET organ and lesion uptake", fill="black", font=title)
    draw.text((left, 48), f"values in {unit}; organ figures leave lesion voxels out",
              fill="black", font=font)
    y = _table(draw, left, 76, ORGAN_COLUMNS, organ_rows(rows),
               [row.segment.colour for row in rows], font)
    for note in organ_notes(rows):
        for part in textwrap.wrap(note, WRAP):
            draw.text((left, y), part, fill=(90, 90, 90), font=font)
            y += 19
    y += 8
    for line in reference_lines(references, unit):
        for part in textwrap.wrap(line, WRAP):
            draw.text((left, y), part, fill="black", font=font)
            y += 19
    y += 10
    draw.text((left, y), lesion_heading(search, unit), fill="black", font=font)
    y += 22
    if search.lesions:
        shown = search.lesions[:MAX_LESION_ROWS]
        y = _table(draw, left, y, LESION_COLUMNS, lesion_rows(shown),
                   [lesion_colour(lesion.number) for lesion in shown], font)
        more = len(search.lesions) - len(shown)
        notes = ([f"... and {more} more (see SR and summary.json)"] if more else []) + [
            "* Deauville-style score: an aid against blood pool and liver, not a read"]
        for note in notes:
            draw.text((left, y), note, fill=(90, 90, 90), font=font)
            y += 19
    y = _grey_bar(draw, left, y + 10, top, unit, font)
    for line in footer:
        for part in textwrap.wrap(line, WRAP) or [""]:
            draw.text((left, y), part, fill=(90, 90, 90), font=font)
            y += 19
    return panel.crop((0, 0, PANEL_WIDTH, y + 12))


def _table(draw: ImageDraw.ImageDraw, left: int, y: int, columns: Sequence[Column],
           cells: Sequence[Sequence[str]], colours: Sequence[tuple[int, int, int]],
           font: Font) -> int:
    """Header and rows, a colour swatch before each; returns the y below the table."""
    _row(draw, left + 22, y, columns, [name for name, _, _ in columns], font)
    y += 22
    for row, colour in zip(cells, colours, strict=True):
        # a black rim keeps a light swatch (lesion yellow) visible on the white panel
        draw.rectangle(swatch_box(left, y), fill=colour, outline="black")
        _row(draw, left + 22, y, columns, row, font)
        y += 21
    return y


def swatch_box(left: int, y: int) -> tuple[int, int, int, int]:
    """The colour swatch of the table row whose text starts at ``y``."""
    return (left, y + 3, left + 14, y + 15)


def _row(draw: ImageDraw.ImageDraw, left: int, y: int, columns: Sequence[Column],
         cells: Sequence[str], font: Font) -> None:
    """Numbers right-aligned on their column's right edge, words left-aligned."""
    for text, (_, edge, right) in zip(cells, columns, strict=True):
        x = left + edge - draw.textlength(text, font=font) if right else left + edge
        draw.text((x, y), text, fill="black", font=font)


def _grey_bar(draw: ImageDraw.ImageDraw, left: int, y: int, top: float, unit: Unit,
              font: Font) -> int:
    """The MIP's grey scale, white at 0 to black at ``top``, with its window values."""
    width, height = 256, 14
    for i in range(width):
        grey = 255 - i
        draw.line((left + i, y, left + i, y + height), fill=(grey, grey, grey))
    draw.rectangle((left, y, left + width, y + height), outline="black")
    draw.text((left + width + 8, y - 2), f"MIP window 0 - {top:.3g} {unit}", fill="black",
              font=font)
    return y + height + 12
