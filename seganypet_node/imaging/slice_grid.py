"""Where the slices of a series lie along their normal: one regular grid, or why not.

Whole-body PET is acquired in bed positions, and at a junction the gap between two slices can
differ from the others by a fraction of a slice (a GE Discovery ST series: 261 gaps of
3.27 mm, four of 3.29 mm and one of 3.19 mm). Such a series is treated as regular, not
resampled: the grid is the least-squares line through the slice positions, and the series is
accepted while no slice lies more than a third of a slice from it. That bounds the position
error of every slice (and so of every mask the node writes on it) to a third of a slice,
1.1 mm at 3.27 mm, well under the 4-8 mm resolution of a PET image, and keeps one volume slice
per stored instance, which the SEG and the key image reference. Larger departures are refused
with what they are: a missing slice (a gap of 1.5 slices or more), overlapping beds (two
slices closer than half a slice), a gantry tilt (slices sheared against their normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seganypet_node.errors import NodeError

POSITION_TOLERANCE_MM = 0.05
MISSING_GAP = 1.5  # a gap this many slices wide means slices are missing
OVERLAP_GAP = 0.5  # two slices closer than this share of a slice: overlapping beds
MAX_DEVIATION = 1 / 3  # of a slice: how far a slice may lie from the regular grid
MAX_TILT_DEGREES = 0.5


class SliceGridError(NodeError, ValueError):
    """The slice positions do not form one regular grid; the message says how."""


@dataclass(frozen=True)
class SliceGrid:
    """The regular grid the slices are taken to lie on.

    Attributes
    ----------
    spacing_mm : float
        Distance between consecutive slices on the grid.
    offset_mm : float
        Where slice 0 lies on the grid, along the normal, minus its stored position.
    max_deviation_mm : float
        The furthest any slice's stored position lies from the grid.
    """

    spacing_mm: float
    offset_mm: float
    max_deviation_mm: float


def slice_grid(positions: np.ndarray, normal: np.ndarray) -> SliceGrid:
    """Fit the regular grid of slices at ``positions`` (N, 3), sorted along ``normal``.

    Raises
    ------
    SliceGridError
        Fewer than two slices, a duplicate, overlapping beds, missing slices, a gantry tilt,
        or positions too far from any regular grid.
    """
    if len(positions) < 2:
        raise SliceGridError("a volume needs at least two slices")
    along = positions @ normal
    gaps = np.diff(along)
    _check_gaps(gaps)
    _check_tilt(positions, along)
    index = np.arange(len(along), dtype=float)
    spacing, start = np.polyfit(index, along, 1)
    deviation = np.abs(along - (start + spacing * index))
    worst = int(np.argmax(deviation))
    if deviation[worst] > MAX_DEVIATION * spacing:
        raise SliceGridError(
            f"slice positions are not on a regular grid: slice {worst + 1} lies "
            f"{deviation[worst]:.2f} mm from a regular {spacing:.2f} mm grid (more than a third "
            f"of a slice; gaps range {gaps.min():.2f} to {gaps.max():.2f} mm)")
    return SliceGrid(float(spacing), float(start - along[0]), float(deviation.max()))


def _check_gaps(gaps: np.ndarray) -> None:
    median = float(np.median(gaps))
    first = int(np.argmin(gaps))
    if gaps[first] < POSITION_TOLERANCE_MM:
        raise SliceGridError(f"slices {first + 1} and {first + 2} share one position "
                             f"(duplicate slice)")
    if gaps[first] < OVERLAP_GAP * median:
        raise SliceGridError(
            f"slices {first + 1} and {first + 2} are {gaps[first]:.2f} mm apart where the "
            f"spacing is {median:.2f} mm: overlapping bed positions (send the series the "
            f"scanner merged, one slice per position)")
    wide = np.nonzero(gaps >= MISSING_GAP * median)[0]
    if len(wide):
        missing = int(sum(round(g / median) - 1 for g in gaps[wide]))
        where = ", ".join(f"{g:.2f} mm after slice {i + 1}" for i, g in
                          zip(wide[:3], gaps[wide][:3], strict=True))
        raise SliceGridError(f"slice gap of {where} where the spacing is {median:.2f} mm: "
                             f"about {missing} slice(s) missing")


def _check_tilt(positions: np.ndarray, along: np.ndarray) -> None:
    travel = positions[-1] - positions[0]
    normal_part = float(along[-1] - along[0])
    sideways = float(np.sqrt(max(float(travel @ travel) - normal_part**2, 0.0)))
    degrees = math.degrees(math.atan2(sideways, abs(normal_part)))
    if degrees > MAX_TILT_DEGREES:
        raise SliceGridError(
            f"slices are sheared {degrees:.1f} degrees against their normal (gantry tilt): "
            f"the volume would be distorted; send an untilted reconstruction")
