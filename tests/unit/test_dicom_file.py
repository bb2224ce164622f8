"""A result written with its pixel data streamed last is byte for byte what pydicom writes."""

from __future__ import annotations

import copy
from pathlib import Path

import pydicom
import pydicom.filewriter
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


def nested_tree(syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """Three levels of items, ambiguous VRs (US or SS) resolved by an ancestor's value."""
    ds = dataset(b"\x00\x01", syntax)
    ds.PixelRepresentation = 1  # signed: the nested descriptors below are SS
    ds.SpecificCharacterSet = "ISO_IR 192"
    frames = []
    for k in range(4):
        item = Dataset()
        item.add_new(0x00283002, "US or SS", [256, -3, 16])  # LUT Descriptor
        inner = Dataset()
        inner.add_new(0x00280106, "US or SS", -k)  # Smallest Image Pixel Value
        inner.PatientName = "Müller^Jürgen"
        item.add_new(0x00081199, "SQ", [inner])  # Referenced SOP Sequence
        frames.append(item)
    ds.add_new(0x52009230, "SQ", frames)  # Per-Frame Functional Groups Sequence
    return ds


def test_a_nested_tree_is_written_as_pydicom_writes_it(tmp_path: Path) -> None:
    tree = nested_tree()
    expected = tmp_path / "pydicom.dcm"
    copy.deepcopy(tree).save_as(expected, enforce_file_format=True)
    written = tmp_path / "node.dcm"
    write_durably(tree, written)
    assert written.read_bytes() == expected.read_bytes()
    read = pydicom.dcmread(written)
    inner = read.PerFrameFunctionalGroupsSequence[2].ReferencedSOPSequence[0]
    assert inner["SmallestImagePixelValue"].VR == "SS" and inner.SmallestImagePixelValue == -2
    assert str(inner.PatientName) == "Müller^Jürgen"


def test_pydicom_does_not_walk_the_built_tree_again(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # pydicom re-corrects each nested item (and its subtree) it writes unless the item is
    # marked as in the file's encoding: quadratic in depth, seconds for a SEG. A walk
    # starts without ancestors; its recursion into the items passes them.
    walks: list[Dataset] = []
    original = pydicom.filewriter.correct_ambiguous_vr

    def counted(ds: Dataset, is_little_endian: bool,
                ancestors: list[Dataset] | None = None) -> Dataset:
        if ancestors is None:
            walks.append(ds)
        return original(ds, is_little_endian, ancestors)

    monkeypatch.setattr(pydicom.filewriter, "correct_ambiguous_vr", counted)
    write_durably(nested_tree(), tmp_path / "node.dcm")
    assert len(walks) <= 1  # the node's own walk of the root, none per item


def test_items_read_from_an_implicit_file_keep_their_own_encoding(tmp_path: Path) -> None:
    source = tmp_path / "implicit.dcm"
    nested_tree(ImplicitVRLittleEndian).save_as(source, enforce_file_format=True)
    read = pydicom.dcmread(source)  # items hold raw elements, read as implicit VR
    built = dataset(b"\x00\x01")
    built.PixelRepresentation = 1
    built.PerFrameFunctionalGroupsSequence = read.PerFrameFunctionalGroupsSequence
    assert all(item.original_encoding == (True, True)
               for item in built.PerFrameFunctionalGroupsSequence)
    expected = tmp_path / "pydicom.dcm"
    copy.deepcopy(built).save_as(expected, enforce_file_format=True)
    written = tmp_path / "node.dcm"
    write_durably(built, written)
    assert written.read_bytes() == expected.read_bytes()
    inner = pydicom.dcmread(written).PerFrameFunctionalGroupsSequence[3]
    assert inner["LUTDescriptor"].VR == "SS" and list(inner.LUTDescriptor) == [256, -3, 16]
