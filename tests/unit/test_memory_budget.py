"""The worker's memory estimate: voxels set the line, segments past the measured ones add to it."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from seganypet_node.pipeline.memory import (
    MEASURED_SEGMENTS,
    MemoryBudgetError,
    check_budget,
    estimated_peak_mb,
)

TWO_MM = 900 * 360 * 360


def test_more_segments_than_were_measured_need_more_memory() -> None:
    plain = estimated_peak_mb(TWO_MM)
    assert estimated_peak_mb(TWO_MM, MEASURED_SEGMENTS - 5) == plain  # never less than fitted
    assert estimated_peak_mb(TWO_MM, MEASURED_SEGMENTS + 40) > plain + 500  # 40 lesions
    assert estimated_peak_mb(2 * TWO_MM) > plain  # and the voxels set the line


def test_the_budget_names_the_study_its_segments_and_the_setting() -> None:
    check_budget(TWO_MM, estimated_peak_mb(TWO_MM, 52) + 1, 52)
    with pytest.raises(MemoryBudgetError, match=r"117 M voxels, up to 52 segments.*"
                                                r"memory_budget_mb = 1800"):
        check_budget(TWO_MM, 1800, 52)
    check_budget(TWO_MM, 0, 52)  # 0: no budget


FREE_AFTER_GROWTH = """
import ctypes
import sys
from seganypet_node.pipeline.memory import return_freed_memory_promptly

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def filled(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    return block

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "fixed":
    assert return_freed_memory_promptly()
libc.free(filled(16 << 20))  # glibc's default: from now on blocks up to 16 MB use the heap
blocks = [filled(512 << 10) for _ in range(400)]
held = rss_mb()
for block in blocks[::2]:  # holes between blocks still held, as in a study's heap
    libc.free(block)
print(held - rss_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_mid_sized_blocks_freed_after_a_large_one_leave_the_process() -> None:
    returned = subprocess.run([sys.executable, "-c", FREE_AFTER_GROWTH, "fixed"], check=True,
                              capture_output=True, text=True).stdout
    assert float(returned) > 80  # of the 100 MB freed (about 0 without the call)
