"""Phantom studies the benchmarks write once and reuse (``$TMPDIR/seganypet-bench-series``)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from seganypet_node.phantom.generate import PhantomSpec, generate

CACHE = Path(tempfile.gettempdir()) / "seganypet-bench-series"


def cached_phantom(name: str, spec: PhantomSpec) -> Path:
    """The DICOM folder of the phantom ``spec``, generated into ``CACHE/name`` when missing."""
    out = CACHE / name
    if not (out / "labels.json").exists():
        print(f"writing phantom {name}", file=sys.stderr)
        generate(spec, out)
    return out / "dicom"
