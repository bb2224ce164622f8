"""Reading the browser's screenshots at the points OHIF says it drew the probes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAME_PIXEL = 8.0  # RGB distance below which a pixel did not change between screenshots
OVERLAY_SHOWN = 20.0  # at least this much change where a filled segment is drawn
SAME_GREY = 16  # grey levels within which a displayed pixel matches the written one


def load_screenshot(path: Path) -> np.ndarray:
    """A screenshot as an RGB array (rows, columns, 3), float."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def pixel(screenshot: np.ndarray, page_point: Sequence[float]) -> np.ndarray:
    """RGB of a screenshot at a page point (CSS pixels; the browser runs at scale 1)."""
    x, y = (round(v) for v in page_point)
    return screenshot[y, x]


def explaining_segment(before: np.ndarray, after: np.ndarray,
                       segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The segment whose colour, blended over ``before``, best explains ``after``.

    A filled labelmap moves a pixel from the image's grey towards the segment colour by the
    fill opacity: ``after = before + alpha * (colour - before)``. The segment with the smallest
    residual over the best alpha in [0, 1] is the one drawn there.
    """
    change = after - before

    def residual(segment: dict[str, Any]) -> float:
        towards = np.array(segment["color"][:3], dtype=float) - before
        alpha = float(np.clip(change @ towards / max(towards @ towards, 1e-9), 0.0, 1.0))
        return float(np.linalg.norm(change - alpha * towards))

    return min(segments, key=residual)


def displayed_agreement(screenshot: Path, corners: Sequence[Sequence[float]],
                        image: np.ndarray) -> dict[str, float]:
    """How much of the displayed image matches ``image``, as written, mirrored and upside down.

    ``corners`` are the page points of the first and last pixel centres, as the viewer reports
    them; the screenshot is cropped there and both are compared in grey at half that size. The
    share of pixels within ``SAME_GREY`` is robust to the viewer's own overlays (date, cine
    buttons) that a correlation would be dominated by.
    """
    (x0, y0), (x1, y1) = corners
    shown = Image.open(screenshot).convert("L").crop(
        (round(x0), round(y0), round(x1) + 1, round(y1) + 1))
    size = (shown.width // 2, shown.height // 2)
    a = np.asarray(shown.resize(size, Image.Resampling.BOX), dtype=float)
    b = np.asarray(Image.fromarray(image).convert("L").resize(size, Image.Resampling.BOX),
                   dtype=float)
    return {name: float(np.mean(np.abs(a - candidate) < SAME_GREY))
            for name, candidate in (("as written", b), ("mirrored", b[:, ::-1]),
                                    ("upside down", b[::-1]))}
