"""Directories the node writes to, checked before any work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from seganypet_node.errors import NodeError


class UnusableDirectoryError(NodeError):
    """A directory the command must write to cannot be made or written."""


def writable_directory(path: Path, setting: str) -> Path:
    """``path``, created if missing, once a file could be written in it.

    Parameters
    ----------
    path : pathlib.Path
        The directory.
    setting : str
        Where it was given (``"[node] data_dir"``, ``"--out"``), named in the message.

    Raises
    ------
    UnusableDirectoryError
        With what is wrong and what to do.
    """
    where = f"{setting} {path}"
    if path.exists() and not path.is_dir():
        raise UnusableDirectoryError(f"{where} is a file, not a directory: give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A real write: os.access says yes to root on a read-only file system.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UnusableDirectoryError(
            f"{where} cannot be used ({reason}): give a directory this user "
            f"(uid {os.getuid()}) can create and write") from None
    return path
