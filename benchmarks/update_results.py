"""Rewrite the tables of RESULTS.md from the JSON the benchmark scripts last wrote.

Each table sits between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->``; the prose around
them (what the figures mean, targets met or not) is kept and must be re-read after a run.

Usage:  python benchmarks/update_results.py
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import model_bench  # noqa: E402
import pipeline_bench  # noqa: E402

RESULTS_MD = HERE / "RESULTS.md"


def machine() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"Last full run: {time.strftime('%Y-%m-%d')} on {platform.platform()}, "
            f"{os.cpu_count()} cores, {memory_gb:.0f} GB, Python {platform.python_version()}.")


TABLES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "model": ("model_bench.json", lambda r: model_bench.table(r["summary"])),
    "pipeline": ("pipeline_bench.json", lambda r: pipeline_bench.table(r["runs"])),
    "ingest": ("ingest.json", lambda r: r["table"]),
    "ingest-2mm": ("ingest_scaling-900-360-2.json", lambda r: r["table"]),
    "e2e-latency": ("e2e.json", lambda r: r["latency_table"]),
    "e2e-throughput": ("e2e.json", lambda r: r["throughput_table"]),
    "scaling": ("scaling.json", lambda r: r["table"]),
}


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + match.group(2)


def main() -> None:
    text = RESULTS_MD.read_text()
    blocks = {"machine": machine()}
    for name, (file, render) in TABLES.items():
        path = HERE / "results" / file
        if path.exists():
            blocks[name] = render(json.loads(path.read_text()))
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- begin:{name} -->\n).*?(\n<!-- end:{name} -->)", re.S)
        if not pattern.search(text):
            print(f"RESULTS.md has no block {name!r}; skipped", file=sys.stderr)
            continue
        text = pattern.sub(_replacement(body), text)
    RESULTS_MD.write_text(text)
    print(f"RESULTS.md: {len(blocks)} blocks rewritten")


if __name__ == "__main__":
    main()
