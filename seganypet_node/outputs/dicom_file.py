"""Writing a result object to disk durably, large pixel data without a second copy.

pydicom encodes every element into a buffer before writing it, so a SEG's PixelData (0.2 GB
for a 2 mm study) is held twice while it is saved. When the data set is Explicit VR Little
Endian and PixelData is its last element (as in the SEGs highdicom builds), the header is
written by pydicom and the pixel data element after it from the bytes themselves.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

PIXEL_DATA = Tag(0x7FE0, 0x0010)


def write_durably(dataset: Dataset, path: Path) -> None:
    """Write ``dataset`` as a DICOM file at ``path``: to a temporary file, fsync, rename."""
    temp = path.with_suffix(".tmp")
    if _pixels_can_follow(dataset):
        _write_pixels_last(dataset, temp)
    else:
        dataset.save_as(temp, enforce_file_format=True)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _pixels_can_follow(dataset: Dataset) -> bool:
    meta = getattr(dataset, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return False
    if PIXEL_DATA not in dataset or _vr(dataset) is None:
        return False
    return max(dataset.keys()) == PIXEL_DATA and isinstance(dataset.PixelData, bytes)


def _vr(dataset: Dataset) -> str | None:
    """PixelData's VR as it is written: pydicom's rule for the ambiguous "OB or OW"."""
    vr = str(dataset[PIXEL_DATA].VR)
    if vr == "OB or OW":
        bits = dataset.get("BitsAllocated")
        return None if bits is None else ("OW" if int(bits) > 8 else "OB")
    return vr if vr in ("OB", "OW") else None


def _write_pixels_last(dataset: Dataset, path: Path) -> None:
    element = dataset[PIXEL_DATA]
    vr = _vr(dataset) or "OB"
    value: bytes = element.value
    del dataset[PIXEL_DATA]
    try:
        dataset.save_as(path, enforce_file_format=True)
    finally:
        dataset[PIXEL_DATA] = element
    padding = b"\x00" if len(value) % 2 else b""
    header = struct.pack("<HH2sHI", PIXEL_DATA.group, PIXEL_DATA.element,
                         vr.encode("ascii"), 0, len(value) + len(padding))
    with open(path, "ab") as handle:
        handle.write(header)
        handle.write(value)
        handle.write(padding)
