"""Process-wide logging set-up."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    """Log to stderr with timestamps; library chatter (pynetdicom, alembic, pydicom, highdicom's
    "copy attributes of module ..." lines) stays at WARNING unless DEBUG."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    quiet = "DEBUG" if level == "DEBUG" else "WARNING"
    for chatty in ("pynetdicom", "alembic", "pydicom", "highdicom"):
        logging.getLogger(chatty).setLevel(quiet)
