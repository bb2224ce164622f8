"""Which series of a study folder ``segment`` reads: the PET one, said aloud.

A study exported from a PACS holds the CT (and often a non-attenuation-corrected PET) beside
the PET series; the files are sorted by series from their headers alone, before any pixels
are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from seganypet_node.imaging.pet import SeriesError
from seganypet_node.imaging.suv import header_values


@dataclass(frozen=True)
class FoundSeries:
    """The files of one series in the folder given."""

    series_uid: str
    modality: str
    description: str
    attenuation_corrected: bool
    files: tuple[Path, ...]

    def line(self) -> str:
        """``PT series 1.2.3 "WB AC" (300 files)``."""
        named = f' "{self.description}"' if self.description else ""
        return f"{self.modality} series {self.series_uid}{named} ({len(self.files)} files)"


@dataclass(frozen=True)
class SeriesChoice:
    """The series taken, and a line saying what was taken and what was left."""

    files: tuple[Path, ...]
    note: str


def survey(files: Sequence[Path]) -> tuple[list[FoundSeries], int]:
    """The series among ``files`` (headers only), and how many files are not DICOM images."""
    grouped: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
    skipped = 0
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, TypeError, EOFError):
            skipped += 1
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid or "SOPClassUID" not in ds:  # a DICOMDIR, or a stray object
            skipped += 1
            continue
        grouped.setdefault(uid, []).append((path, ds))
    found = []
    for uid, members in grouped.items():
        first = members[0][1]
        corrected = "ATTN" in {str(v).upper() for v in header_values(first, "CorrectedImage")}
        found.append(FoundSeries(uid, str(first.get("Modality", "") or "?"),
                                 str(first.get("SeriesDescription", "") or ""), corrected,
                                 tuple(path for path, _ in members)))
    return found, skipped


def choose_pet_series(files: Sequence[Path]) -> SeriesChoice:
    """The one PET series among ``files``; an attenuation-corrected one before one without.

    Raises
    ------
    SeriesError
        No PET series, or several that cannot be told apart (each is listed).
    """
    found, skipped = survey(files)
    pet = [s for s in found if s.modality == "PT"]
    if len(pet) > 1 and any(s.attenuation_corrected for s in pet):
        pet = [s for s in pet if s.attenuation_corrected]
    listed = "; ".join(s.line() for s in found) or "none"
    if not pet:
        raise SeriesError(f"no PET series among {len(files)} files (series found: {listed}; "
                          f"{skipped} not DICOM images)")
    if len(pet) > 1:
        raise SeriesError(f"{len(pet)} PET series found ({'; '.join(s.line() for s in pet)}): "
                          f"give the folder or files of one")
    taken = pet[0]
    left = [s.line() for s in found if s is not taken]
    if skipped:
        left.append(f"{skipped} files that are not DICOM images")
    note = f"taking {taken.line()}" + (f"; skipping {'; '.join(left)}" if left else "")
    return SeriesChoice(taken.files, note)
