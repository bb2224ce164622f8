"""Writing a result object to disk durably, large pixel data without a second copy.

pydicom encodes every element into a buffer before writing it, so a SEG's PixelData (0.2 GB
for a 2 mm study) is held twice while it is saved. When the data set is Explicit VR Little
Endian and PixelData is its last element (as in the SEGs highdicom builds), the header is
written by pydicom and the pixel data element after it from the bytes themselves. A caller
holding the pixel data outside the data set (a SEG's packed frames, see
:class:`seganypet_node.outputs.seg_stack.PlaneCheckedSegmentation`) passes it as
``pixel_data``, so it never becomes an element at all.

pydicom corrects ambiguous VRs in every data set it writes that was not read in the file's
encoding, and each nested item again with its own subtree: for a SEG's thousands of
per-frame groups that re-walk is a second or more. The whole tree is corrected once instead
and every item built here marked as already in the file's encoding.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filewriter import correct_ambiguous_vr
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian

PIXEL_DATA = Tag(0x7FE0, 0x0010)
PIXEL_DATA_VR = "OB or OW"  # its VR in the data dictionary


def write_durably(dataset: Dataset, path: Path,
                  pixel_data: bytes | bytearray | None = None) -> None:
    """Write ``dataset`` as a DICOM file at ``path``: to a temporary file, fsync, rename.

    Parameters
    ----------
    dataset : pydicom.Dataset
        The object, with file meta information.
    path : pathlib.Path
        Where the file goes.
    pixel_data : bytes-like, optional
        The PixelData value, written after every element of ``dataset`` (which must then be
        Explicit VR Little Endian, without PixelData or any element after it).
    """
    temp = path.with_suffix(".tmp")
    _encode_tree_once(dataset)
    if pixel_data is not None:
        _check_pixels_can_be_added(dataset)
        _write_pixels_after(dataset, temp, _vr(dataset, PIXEL_DATA_VR) or "OB", pixel_data)
    elif _pixels_can_follow(dataset):
        _write_pixels_last(dataset, temp)
    else:
        dataset.save_as(temp, enforce_file_format=True)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _encode_tree_once(dataset: Dataset) -> None:
    """Correct the ambiguous VRs of the whole tree once; mark the built items as encoded."""
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        return  # save_as refuses it with its own message
    syntax = UID(syntax)
    implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    correct_ambiguous_vr(dataset, little)
    for item in _built_datasets(dataset):
        item.set_original_encoding(implicit, little, item._character_set)


def _built_datasets(dataset: Dataset) -> Iterator[Dataset]:
    """``dataset`` and its nested items that were built in memory, not read from a file.

    An item read from a file keeps its own encoding, and one holding raw (undecoded)
    elements is left for pydicom to convert.
    """
    stack = [dataset]
    while stack:
        item = stack.pop()
        elements = [item.get_item(tag) for tag in item.keys()]  # noqa: SIM118 (not raw-decoding)
        if item.original_encoding == (None, None) and not any(
                isinstance(element, RawDataElement) for element in elements):
            yield item
        stack.extend(nested for element in elements
                     if not isinstance(element, RawDataElement) and element.VR == "SQ"
                     for nested in element.value)


def _pixels_can_follow(dataset: Dataset) -> bool:
    meta = getattr(dataset, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return False
    if PIXEL_DATA not in dataset or _vr(dataset) is None:
        return False
    return max(dataset.keys()) == PIXEL_DATA and isinstance(dataset.PixelData, bytes)


def _check_pixels_can_be_added(dataset: Dataset) -> None:
    meta = getattr(dataset, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        raise ValueError("pixel data can be streamed only into Explicit VR Little Endian")
    if dataset.keys() and max(dataset.keys()) >= PIXEL_DATA:
        raise ValueError("the data set has PixelData or elements after it already")


def _vr(dataset: Dataset, vr: str | None = None) -> str | None:
    """PixelData's VR as it is written: pydicom's rule for the ambiguous "OB or OW"."""
    vr = vr or str(dataset[PIXEL_DATA].VR)
    if vr == PIXEL_DATA_VR:
        bits = dataset.get("BitsAllocated")
        return None if bits is None else ("OW" if int(bits) > 8 else "OB")
    return vr if vr in ("OB", "OW") else None


def _write_pixels_last(dataset: Dataset, path: Path) -> None:
    element = dataset[PIXEL_DATA]
    value: bytes = element.value
    del dataset[PIXEL_DATA]
    try:
        _write_pixels_after(dataset, path, _vr(dataset, str(element.VR)) or "OB", value)
    finally:
        dataset[PIXEL_DATA] = element


def _write_pixels_after(dataset: Dataset, path: Path, vr: str,
                        value: bytes | bytearray) -> None:
    dataset.save_as(path, enforce_file_format=True)
    padding = b"\x00" if len(value) % 2 else b""
    header = struct.pack("<HH2sHI", PIXEL_DATA.group, PIXEL_DATA.element,
                         vr.encode("ascii"), 0, len(value) + len(padding))
    with open(path, "ab") as handle:
        handle.write(header)
        handle.write(value)
        handle.write(padding)
