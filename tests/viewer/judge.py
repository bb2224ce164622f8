"""Reading the browser's screenshots at the points OHIF says it drew the probes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAME_PIXEL = 8.0  # RGB distance below which a pixel did not change between screenshots
OVERLAY_SHOWN = 20.0  # at least this much change where a filled segment is drawn


def pixel(screenshot: Path, page_point: Sequence[float]) -> np.ndarray:
    """RGB of the screenshot at a page point (CSS pixels; the browser runs at scale 1)."""
    image = np.asarray(Image.open(screenshot).convert("RGB"), dtype=float)
    x, y = (round(v) for v in page_point)
    return image[y, x]


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
