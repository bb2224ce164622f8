"""Process-wide logging set-up: stderr for every command, a rotated file for the node."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from seganypet_node.paths import UnusableDirectoryError, writable_directory

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LIBRARIES = ("pynetdicom", "alembic", "pydicom", "highdicom")


def setup_logging(level: str, libraries: str = "WARNING") -> None:
    """Log to stderr with timestamps at ``level``; the libraries' loggers (pynetdicom,
    alembic, pydicom, highdicom's "copy attributes of module ..." lines) at ``libraries``,
    never below ``level``."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    quiet = max(logging.getLevelName(level), logging.getLevelName(libraries))
    for chatty in LIBRARIES:
        logging.getLogger(chatty).setLevel(quiet)


def log_to_file(path: Path, max_bytes: int, backups: int) -> None:
    """Also log to ``path``, rotated at ``max_bytes`` keeping ``backups`` older files.

    Raises
    ------
    seganypet_node.paths.UnusableDirectoryError
        The file's folder cannot be made or written, or the file cannot be opened (another
        user's, from a run under another account).
    """
    writable_directory(path.parent, "[logging] file")
    try:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                       backupCount=backups, encoding="utf-8")
    except OSError as exc:
        raise UnusableDirectoryError(
            f"[logging] file {path} cannot be opened for writing ({exc.strerror}): give the "
            f"node's user the file, or set another [logging] file (\"\" for none)") from None
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.getLogger().addHandler(handler)
