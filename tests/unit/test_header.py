import struct
from io import BytesIO

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from seganypet_node.dicom.header import is_pet, read_header
from seganypet_node.dicom.status import InstanceRejected, StoreStatus

REAL_PET = [
    "Comunix/Pet/IM-0001-0001.dcm",
    "2021-02-19-MalaterreCP246.dcm",
    "2020-11-16-SalimKanounAnonymization.dcm",
    "ACRIN-FLT-Breast_suyashkumar_1.dcm",
]


def header_of(ds: pydicom.Dataset, ts: str = ExplicitVRLittleEndian):
    return read_header(ds, str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts)


@pytest.mark.parametrize("name", REAL_PET)
def test_real_pet_headers(shared_data, name: str) -> None:
    ds = pydicom.dcmread(shared_data / "real_pet_slices" / name)
    header = header_of(ds, ds.file_meta.TransferSyntaxUID)
    assert is_pet(header) and header.modality == "PT"
    assert "ATTN" in header.corrected_image
    assert header.number_of_slices is None or header.number_of_slices > 1


def test_phantom_header(phantom_study) -> None:
    header = header_of(pydicom.dcmread(phantom_study.files[0]))
    assert header.number_of_slices == 300
    assert header.study_uid == phantom_study.identity.study_uid


@pytest.mark.parametrize(
    ("mutate", "status", "text"),
    [
        (lambda ds: delattr(ds, "SeriesInstanceUID"), StoreStatus.DATASET_MISMATCH, "missing"),
        (lambda ds: delattr(ds, "Modality"), StoreStatus.DATASET_MISMATCH, "Modality"),
        (lambda ds: setattr(ds, "StudyInstanceUID", "../../x"), StoreStatus.INVALID_UID, "Study"),
        (lambda ds: setattr(ds, "NumberOfSlices", "many"), StoreStatus.DATASET_MISMATCH,
         "NumberOfSlices is not an integer"),
        (lambda ds: setattr(ds, "PixelData", ds.PixelData[:100]), StoreStatus.CANNOT_DECODE,
         "PixelData has 100 bytes"),
        (lambda ds: delattr(ds, "PixelData"), StoreStatus.DATASET_MISMATCH, "PixelData"),
        # Before: BitsAllocated 0 needed 0 bytes and was stored; 8 bits read half the pixels.
        (lambda ds: setattr(ds, "BitsAllocated", 0), StoreStatus.DATASET_MISMATCH,
         "BitsAllocated 0"),
        (lambda ds: setattr(ds, "BitsAllocated", 8), StoreStatus.DATASET_MISMATCH,
         "Rows x Columns x frames needs"),
        (lambda ds: setattr(ds, "Rows", int(ds.Rows) // 2), StoreStatus.DATASET_MISMATCH,
         "PixelData has"),
        (lambda ds: setattr(ds, "Columns", 0), StoreStatus.DATASET_MISMATCH, "Columns 0"),
    ],
)
def test_bad_headers_get_specific_statuses(phantom_study, mutate, status, text) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    uid_class, uid_instance = str(ds.SOPClassUID), str(ds.SOPInstanceUID)
    mutate(ds)
    with pytest.raises(InstanceRejected, match=text) as caught:
        read_header(ds, uid_class, uid_instance, ExplicitVRLittleEndian)
    assert caught.value.outcome.status is status


def test_request_uids_must_match_the_data_set(phantom_study) -> None:
    ds = pydicom.dcmread(phantom_study.files[0])
    with pytest.raises(InstanceRejected, match="SOPInstanceUID differs") as caught:
        read_header(ds, str(ds.SOPClassUID), "1.2.3", ExplicitVRLittleEndian)
    assert caught.value.outcome.status is StoreStatus.DATASET_MISMATCH


# Lengths that overrun, that end mid-element, and small ones that shift the parser into the
# next element's VR (written across a VR, 0x50B8 gave the unknown VR 'U\xb8' a CI run found).
BROKEN_LENGTHS = [0, 1, 0x50, 0x50B8, 0x0200, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF]


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every broken element
def test_every_broken_length_in_the_header_gets_a_status(phantom_study) -> None:
    """Each 4-byte window of the first kilobyte overwritten with a broken length.

    Elements decode lazily, so whichever check touches a corrupt element first must turn
    pydicom's error into a status (a CI fuzz run once found Rows failing with an unknown VR).
    """
    from pynetdicom.dsutils import decode, encode

    ds = pydicom.dcmread(phantom_study.files[0])
    data = encode(ds, is_implicit_vr=False, is_little_endian=True)  # as sent: no meta
    assert data is not None
    escaped: list[tuple[int, int, str]] = []
    for start in range(0, min(1024, len(data) - 4)):
        for length in BROKEN_LENGTHS:
            mutant = bytearray(data)
            mutant[start:start + 4] = struct.pack("<I", length)
            try:
                received = decode(BytesIO(bytes(mutant)), False, True)
            except Exception:
                continue  # the node answers CANNOT_DECODE before reading the header
            try:  # the request's UIDs are the sent ones: the mutant's may not decode
                read_header(received, str(ds.SOPClassUID), str(ds.SOPInstanceUID),
                            ExplicitVRLittleEndian)
            except InstanceRejected:
                pass
            except Exception as exc:
                escaped.append((start, length, type(exc).__name__))
    assert not escaped, escaped[:10]
