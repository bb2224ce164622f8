"""How much memory one study needs, so that a worker refuses one that cannot fit before it
starts, rather than being killed by the system half-way.

The line is fitted to three measurements on the project's phantoms with the compact network
(``benchmarks/stage_memory.py``, 2026-12-03, after the SEG's frames were packed once and
``sitk.Cast`` stopped copying float32 volumes): 0.76 GB at 380 x 160^2 (9.7 M voxels),
1.35 GB at 900 x 360^2 (117 M) and 1.79 GB at 1000 x 440^2 (194 M), 5.8 bytes a voxel over
0.71 GB. What grows with the input is the series as read (its pixel data and the one float32
volume), the lesion search's whole-grid masks while it runs, and the SEG's frames (1 bit per
voxel and segment, packed once): a study whose SEG may hold more segments than the fitted
ones (the lesion cap) is given more. The official network adds its weights and activations
(about 0.3 GB at 4 mm), which the estimate does not add: set the budget with that margin.
Real patients have not been measured.
"""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path

import pydicom

from seganypet_node.errors import NodeError
from seganypet_node.imaging.pet import SeriesError

BASE_MB = 720.0  # 710 fitted
BYTES_PER_VOXEL = 6.2  # 5.8 fitted (MB of 2^20 bytes), with a margin
MEASURED_SEGMENTS = 12  # 10 organs and 2 references; each lesion of the fitted studies is margin
# Each segment beyond those: its frames' packed bits (1 bit a voxel of the frames it spans, at
# most every slice), packed once into the buffer the file is written from. Worked out from how
# the SEG is built (outputs/seg_stack.py), not measured.
BYTES_PER_VOXEL_PER_SEGMENT = 0.125


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default starting value, kept fixed


def return_freed_memory_promptly() -> bool:
    """Keep glibc's malloc giving blocks of 128 kB and more back to the system when freed.

    By default glibc raises that threshold to the largest block freed so far (up to 32 MB),
    so after the first large frees, a study's many mid-sized arrays (crops, boxes, frames)
    come from the heap and stay in RSS once freed: about 125 MB of the 2 mm study's peak
    (``benchmarks/stage_memory.py``: 1480 against 1354 MB). Fixing it costs a page fault
    per fresh block. Process-wide and idempotent; False where the C library is not
    glibc (nothing changed).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)


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
