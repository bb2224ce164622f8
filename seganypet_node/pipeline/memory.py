"""How much memory one study needs, so that a worker refuses one that cannot fit before it
starts, rather than being killed by the system half-way.

The line is fitted to three measurements on the project's phantoms with the compact network
(``benchmarks/pipeline_bench.py`` and ``benchmarks/stage_memory.py``, 2026-12-03): 0.88 GB at
380 x 160^2 (9.7 M voxels), 2.03 GB at 900 x 360^2 (117 M) and 3.0 GB at 1000 x 440^2
(194 M). The volume is held once (4 bytes a voxel) and masks on their boxes; the SEG, which
highdicom builds from one array of every segment, sets most of the slope, so a study with
many more lesions needs more. The official network adds its weights and activations (1.14 GB
measured at 4 mm against 0.88 GB for the compact one), about 0.3 GB the estimate does not
add: set the budget with that margin. Real patients have not been measured.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import SeriesError

BASE_MB = 770.0
BYTES_PER_VOXEL = 12.0  # 11.6 fitted, rounded up


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
