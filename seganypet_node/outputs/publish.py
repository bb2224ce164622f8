"""Moving a job's results into place: an attempt writes into a staging folder, and only a
recorded attempt's folder replaces the one readers see.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def publish(staging: Path, final: Path) -> Path | None:
    """Move an attempt's results into the job's folder; the earlier run's folder, moved aside
    (deleted by the caller once the job is recorded), or None."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}-replaced")
        discard(old)
        final.rename(old)
    try:
        staging.rename(final)
    except OSError:
        if old is not None:
            old.rename(final)
        raise
    return old


def unpublish(staging: Path, final: Path, old: Path | None) -> None:
    """Undo :func:`publish` after the transaction failed (best effort)."""
    try:
        final.rename(staging)
        if old is not None:
            old.rename(final)
    except OSError:
        log.exception("could not move %s back", final.name)


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
