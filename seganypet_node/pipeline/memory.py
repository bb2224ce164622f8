"""How much memory one study needs, so that a worker refuses one that cannot fit before it
starts, rather than being killed by the system half-way.

The line is fitted to two measurements only, both on the project's phantoms with the compact
network (``benchmarks/scaling.py``, 2026-12-02): 1.18 GB at 380 x 160^2 (9.7 M voxels) and
5.7 GB at 900 x 360^2 (117 M voxels); the other points of that run lie within 0.1 GB of it.
SEG writing, which holds every segment of the study as one array, sets the slope, so a study
with many more lesions needs more. The official network adds its weights and activations
(1.47 GB measured at 4 mm against 1.14 GB for the compact one), about 0.35 GB the estimate
does not add: set the budget with that margin. Real patients have not been measured.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import SeriesError

BASE_MB = 770.0
BYTES_PER_VOXEL = 42.0


class MemoryBudgetError(NodeError, MemoryError):
    """The study needs more memory than ``[worker] memory_budget_mb`` allows.

    Permanent: the same study needs the same memory; raise the budget and retry the job.
    """


def study_voxels(files: list[Path]) -> int:
    """Voxels of a series from its first header: rows x columns x frames x instances.

    Raises
    ------
    SeriesError
        The first file has no readable image header.
    """
    if not files:
        raise SeriesError("no instances")
    try:
        header = pydicom.dcmread(files[0], stop_before_pixels=True)
        frames = int(header.get("NumberOfFrames", 1) or 1)
        return int(header.Rows) * int(header.Columns) * frames * len(files)
    except Exception as exc:  # pydicom raises many types
        raise SeriesError(f"{files[0].name}: no image header ({exc})") from None


def estimated_peak_mb(voxels: int) -> float:
    """Expected peak RSS in MB of one study of ``voxels`` input voxels."""
    return BASE_MB + BYTES_PER_VOXEL * voxels / 2**20


def check_budget(voxels: int, budget_mb: float) -> None:
    """Raise :class:`MemoryBudgetError` when a study of ``voxels`` will not fit ``budget_mb``
    (0: no budget).

    Raises
    ------
    MemoryBudgetError
        With the study's size, the estimate and the budget.
    """
    needed = estimated_peak_mb(voxels)
    if budget_mb and needed > budget_mb:
        raise MemoryBudgetError(
            f"the study ({voxels / 1e6:.0f} M voxels) needs about {needed:.0f} MB, more than "
            f"[worker] memory_budget_mb = {budget_mb:g}; raise it (or run fewer workers) and "
            f"retry the job")
