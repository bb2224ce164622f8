"""Durable file layout of received and produced instances.

Layout: ``<root>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``. A UID only ever
becomes part of a path after :func:`validate_uid` accepted it, so no header value can name a
file outside the spool.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seganypet_node.errors import NodeError
from seganypet_node.hashing import bytes_sha256

# PS3.5 9.1: components of digits separated by dots, no leading zero in a multi-digit component.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
MAX_UID_LENGTH = 64


TEMP_SUFFIX = ".tmp"

class InvalidUidError(NodeError, ValueError):
    """A UID does not follow the DICOM UID grammar."""


def validate_uid(uid: object, name: str = "UID") -> str:
    """Return ``uid`` if it is a valid DICOM UID, else raise :class:`InvalidUidError`.

    Parameters
    ----------
    uid : object
        The value to check (usually a ``str`` from a header).
    name : str
        What the UID is, for the error message (e.g. "SOPInstanceUID").
    """
    if not isinstance(uid, str):
        raise InvalidUidError(f"{name} is missing or not a string")
    if len(uid) > MAX_UID_LENGTH:
        raise InvalidUidError(f"{name} is longer than {MAX_UID_LENGTH} characters")
    if not _UID.match(uid):
        raise InvalidUidError(f"{name} is not a valid DICOM UID (digits and dots only)")
    return uid


@dataclass(frozen=True)
class StoredFile:
    """A file placed in the spool.

    Parameters
    ----------
    relative_path : PurePosixPath
        Path below the spool root (what the database stores).
    size_bytes : int
        Size of the file.
    existed : bool
        True when the same bytes were already there (a re-sent instance): nothing was written.
    sha256 : str
        Hex SHA-256 of the bytes (what the database records, and ``check`` compares).
    """

    relative_path: PurePosixPath
    size_bytes: int
    existed: bool
    sha256: str


def temporary_name(final_name: str) -> str:
    """The name a file is written under before it is renamed to ``final_name``."""
    return f".{final_name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether a spool file name is a write that never finished (see :func:`temporary_name`)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


class ContentConflictError(Exception):
    """Other bytes are already stored at this path; they are kept, the new ones are not."""


class Spool:
    """The spool directory: validated paths and crash-safe writes.

    Parameters
    ----------
    root : pathlib.Path
        Directory that holds the files; created if missing.
    min_free_bytes : int
        Free space to keep on the disk: a write that would leave less is refused with ENOSPC.
    """

    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self.min_free_bytes = min_free_bytes
        self.root = root.absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()
        self._known_dirs: set[Path] = set()
        self._dir_lock = threading.Lock()

    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> PurePosixPath:
        """Relative path of an instance; raises :class:`InvalidUidError` for a bad UID."""
        return PurePosixPath(
            validate_uid(study_uid, "StudyInstanceUID"),
            validate_uid(series_uid, "SeriesInstanceUID"),
            validate_uid(sop_uid, "SOPInstanceUID") + ".dcm",
        )

    def absolute(self, relative: PurePosixPath | str) -> Path:
        """Absolute path of a spool-relative path, refusing anything that leaves the root."""
        candidate = (self._real_root / str(relative)).resolve()
        if not candidate.is_relative_to(self._real_root):
            raise ValueError(f"path {relative!s} leaves the spool")
        return candidate

    def write(self, relative: PurePosixPath, data: bytes) -> StoredFile:
        """Write ``data`` durably: temp file, fsync, atomic link, fsync of the directory.

        A file already at ``relative`` is never replaced: the same bytes make the write a
        no-op (``existed``), other bytes raise :class:`ContentConflictError`. Raises OSError
        with ENOSPC, writing nothing, when the disk would keep less than ``min_free_bytes``
        free.
        """
        self._check_free_space(len(data))
        target = self.absolute(relative)
        self._ensure_dir(target.parent)
        try:
            return self._write(target, relative, data)
        except FileNotFoundError:
            # The directory vanished under us (removed by an operator): create it again.
            self._known_dirs.discard(target.parent)
            self._ensure_dir(target.parent)
            return self._write(target, relative, data)

    def _write(self, target: Path, relative: PurePosixPath, data: bytes) -> StoredFile:
        temp = target.parent / temporary_name(target.name)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            # link, unlike rename, fails on an existing target: what was acknowledged stays.
            os.link(temp, target)
        except FileExistsError:
            temp.unlink(missing_ok=True)
            if not _same_content(target, data):
                raise ContentConflictError(str(relative)) from None
            return StoredFile(relative, len(data), True, bytes_sha256(data))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        temp.unlink()
        _fsync_dir(target.parent)
        return StoredFile(relative, len(data), False, bytes_sha256(data))

    def _check_free_space(self, size: int) -> None:
        if not self.min_free_bytes:
            return
        disk = os.statvfs(self.root)
        if disk.f_bavail * disk.f_frsize - size < self.min_free_bytes:
            raise OSError(errno.ENOSPC, "free space below the configured watermark")

    def remove(self, relative: PurePosixPath) -> None:
        """Delete a spool file (used when its database row could not be committed)."""
        target = self.absolute(relative)
        target.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._known_dirs:
            return
        with self._dir_lock:
            created = []
            path = directory
            while not path.exists():
                created.append(path)
                path = path.parent
            directory.mkdir(parents=True, exist_ok=True)
            # A new directory entry is durable only once its parent is synced.
            for new_dir in created:
                _fsync_dir(new_dir.parent)
            self._known_dirs.add(directory)


def _same_content(path: Path, data: bytes) -> bool:
    return path.stat().st_size == len(data) and path.read_bytes() == data


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
