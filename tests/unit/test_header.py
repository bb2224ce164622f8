import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from seganypet_node.dicom.header import read_header
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
    assert header.is_pet and header.modality == "PT"
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
