"""How much memory one study needs, so that a worker refuses one that cannot fit before it
starts, rather than being killed by the system half-way.

The line is fitted to three measurements on the project's phantoms with the compact network
(``benchmarks/pipeline_bench.py`` and ``benchmarks/stage_memory.py``, 2026-12-03): 0.83 GB at
380 x 160^2 (9.7 M voxels), 1.61 GB at 900 x 360^2 (117 M) and 2.24 GB at 1000 x 440^2
(194 M). What grows with the input is the one SUV volume (4 bytes a voxel), the lesion
search's whole-grid masks while it runs, and the SEG's frames (1 bit per voxel and segment,
held twice while the SEG is built): a study whose SEG may hold more segments than the fitted
ones (the lesion cap) is given more. The official network adds its weights and activations
(about 0.3 GB at 4 mm), which the estimate does not add: set the budget with that margin.
Real patients have not been measured.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import SeriesError

BASE_MB = 770.0
BYTES_PER_VOXEL = 8.2  # 8.0 fitted (MB of 2^20 bytes), with a margin
MEASURED_SEGMENTS = 12  # 10 organs and 2 references; each lesion of the fitted studies is margin
# Each segment beyond those: its frames' packed bits (1 bit a voxel), held twice while the SEG
# is built. Worked out from how highdicom builds the SEG, not measured.
BYTES_PER_VOXEL_PER_SEGMENT = 0.25


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


def estimated_peak_mb(voxels: int, segments: int = MEASURED_SEGMENTS) -> float:
    """Expected peak RSS in MB of one study of ``voxels`` input voxels whose SEG holds (at
    most) ``segments`` segments."""
    extra = max(0, segments - MEASURED_SEGMENTS) * BYTES_PER_VOXEL_PER_SEGMENT
    return BASE_MB + (BYTES_PER_VOXEL + extra) * voxels / 2**20


def check_budget(voxels: int, budget_mb: float, segments: int = MEASURED_SEGMENTS) -> None:
    """Raise :class:`MemoryBudgetError` when a study of ``voxels`` whose SEG may hold
    ``segments`` segments will not fit ``budget_mb`` (0: no budget).

    Raises
    ------
    MemoryBudgetError
        With the study's size, the estimate and the budget.
    """
    needed = estimated_peak_mb(voxels, segments)
    if budget_mb and needed > budget_mb:
        raise MemoryBudgetError(
            f"the study ({voxels / 1e6:.0f} M voxels, up to {segments} segments) needs about "
            f"{needed:.0f} MB, more than "
            f"[worker] memory_budget_mb = {budget_mb:g}; raise it (or run fewer workers) and "
            f"retry the job")
