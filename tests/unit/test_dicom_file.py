"""A result written with its pixel data streamed last is byte for byte what pydicom writes."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from seganypet_node.outputs.dicom_file import _pixels_can_follow, write_durably


def dataset(pixels: bytes, syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.NumberOfFrames = 4, 4, 1, 3
    ds.PixelData = pixels
    return ds


@pytest.mark.parametrize("length", [6, 7])  # even, and odd (padded)
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_streamed_pixel_data_gives_the_file_pydicom_writes(tmp_path: Path, length: int,
                                                           syntax: str) -> None:
    pixels = bytes(range(1, length + 1))
    ds = dataset(pixels, syntax)
    assert _pixels_can_follow(ds) is (syntax == ExplicitVRLittleEndian)  # streamed, or not
    expected = tmp_path / "pydicom.dcm"
    ds.save_as(expected, enforce_file_format=True)
    written = tmp_path / "node.dcm"
    write_durably(ds, written)
    assert written.read_bytes() == expected.read_bytes()
    assert pydicom.dcmread(written).PixelData[:length] == pixels
    assert ds.PixelData == pixels  # the data set is left as it was
    assert not written.with_suffix(".tmp").exists()


@pytest.mark.parametrize("length", [6, 7])
def test_pixel_data_given_apart_gives_the_same_file(tmp_path: Path, length: int) -> None:
    pixels = bytes(range(1, length + 1))
    expected = tmp_path / "pydicom.dcm"
    apart = dataset(pixels)
    apart.save_as(expected, enforce_file_format=True)
    del apart.PixelData
    written = tmp_path / "node.dcm"
    write_durably(apart, written, bytearray(pixels))
    assert written.read_bytes() == expected.read_bytes()


def test_pixel_data_given_apart_is_refused_beside_a_pixel_data_element(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PixelData"):
        write_durably(dataset(b"ab"), tmp_path / "x.dcm", b"cd")
    implicit = dataset(b"ab", ImplicitVRLittleEndian)
    del implicit.PixelData
    with pytest.raises(ValueError, match="Explicit VR"):
        write_durably(implicit, tmp_path / "x.dcm", b"cd")
