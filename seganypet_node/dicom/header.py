"""What the node needs to know about a received instance, read and checked from its header."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from seganypet_node.db.rows import InstanceHeader
from seganypet_node.dicom.sop import PET_SOP_CLASSES
from seganypet_node.dicom.spool import InvalidUidError, validate_uid
from seganypet_node.dicom.status import InstanceRejected, StoreStatus


def is_pet(header: InstanceHeader) -> bool:
    """Whether the instance is a PET image (classic or Enhanced)."""
    return header.sop_class_uid in PET_SOP_CLASSES


def read_header(
    dataset: Dataset, affected_sop_class: str, affected_sop_instance: str, transfer_syntax: str
) -> InstanceHeader:
    """Read and check the header of a C-STORE data set.

    Raises
    ------
    InstanceRejected
        With INVALID_UID for a UID that breaks the grammar, DATASET_MISMATCH for a missing
        mandatory attribute or a mismatch with the C-STORE request, CANNOT_DECODE for values
        that do not decode or pixel data shorter than the image needs.
    """
    # Elements decode lazily: any check may be the first to touch a corrupt value, so all of
    # them run inside the one boundary that turns pydicom's many exception types into a status.
    try:
        header = _extract(dataset)
        _check_request(header, affected_sop_class, affected_sop_instance)
        _check_pixel_data(dataset, transfer_syntax, header.number_of_frames)
    except InvalidUidError as exc:
        raise InstanceRejected(StoreStatus.INVALID_UID, str(exc)) from None
    except InstanceRejected:
        raise
    except Exception as exc:  # pydicom raises many types for corrupt values
        raise InstanceRejected(
            StoreStatus.CANNOT_DECODE, f"header does not decode: {exc}"
        ) from None
    return header


def _check_request(header: InstanceHeader, sop_class: str, sop_instance: str) -> None:
    if header.sop_class_uid != sop_class:
        raise InstanceRejected(StoreStatus.DATASET_MISMATCH, "SOPClassUID differs from request")
    if header.sop_instance_uid != sop_instance:
        raise InstanceRejected(StoreStatus.DATASET_MISMATCH, "SOPInstanceUID differs from request")


def _extract(ds: Dataset) -> InstanceHeader:
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if keyword not in ds:
            raise InstanceRejected(StoreStatus.DATASET_MISMATCH, f"{keyword} is missing")
    modality = _text(ds, "Modality")
    if not modality:
        raise InstanceRejected(StoreStatus.DATASET_MISMATCH, "Modality is missing")
    frame_of_reference = _text(ds, "FrameOfReferenceUID")
    return InstanceHeader(
        sop_class_uid=validate_uid(str(ds.SOPClassUID), "SOPClassUID"),
        sop_instance_uid=validate_uid(str(ds.SOPInstanceUID), "SOPInstanceUID"),
        study_uid=validate_uid(str(ds.StudyInstanceUID), "StudyInstanceUID"),
        series_uid=validate_uid(str(ds.SeriesInstanceUID), "SeriesInstanceUID"),
        modality=modality,
        frame_of_reference_uid=(
            validate_uid(frame_of_reference, "FrameOfReferenceUID") if frame_of_reference else None
        ),
        series_number=_integer(ds, "SeriesNumber"),
        instance_number=_integer(ds, "InstanceNumber"),
        number_of_slices=_integer(ds, "NumberOfSlices"),
        number_of_frames=_integer(ds, "NumberOfFrames") or 1,
        corrected_image=tuple(str(v).upper() for v in _multi(ds, "CorrectedImage")),
        patient_id=_text(ds, "PatientID"),
        study_date=_text(ds, "StudyDate"),
        accession_number=_text(ds, "AccessionNumber"),
    )


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return str(value).strip() or None if value is not None else None


def _integer(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InstanceRejected(
            StoreStatus.DATASET_MISMATCH, f"{keyword} is not an integer"
        ) from None


def _multi(ds: Dataset, keyword: str) -> list[Any]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    return list(value) if not isinstance(value, str) else [value]


# Values of BitsAllocated the native transfer syntaxes can carry (PS3.5 8.1.1, PS3.3 C.7.6.3).
BITS_ALLOCATED = frozenset({1, 8, 16, 32, 64})


def _check_pixel_data(ds: Dataset, transfer_syntax: str, frames: int) -> None:
    if "PixelData" not in ds:
        raise InstanceRejected(StoreStatus.DATASET_MISMATCH, "PixelData is missing")
    if UID(transfer_syntax).is_compressed:
        return  # fragment sizes are checked when the series is decoded
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples, bits = int(ds.get("SamplesPerPixel", 1)), int(ds.BitsAllocated)
        present = len(ds.PixelData)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InstanceRejected(StoreStatus.DATASET_MISMATCH, f"image pixel module: {exc}") from None
    if bits not in BITS_ALLOCATED or rows < 1 or columns < 1 or samples < 1:
        raise InstanceRejected(
            StoreStatus.DATASET_MISMATCH,
            f"image pixel module: Rows {rows}, Columns {columns}, SamplesPerPixel {samples}, "
            f"BitsAllocated {bits}",
        )
    needed = (rows * columns * samples * frames * bits + 7) // 8
    if present < needed:
        raise InstanceRejected(
            StoreStatus.CANNOT_DECODE, f"PixelData has {present} bytes, image needs {needed}"
        )
    if present > needed + 1:  # one byte pads an odd length
        raise InstanceRejected(
            StoreStatus.DATASET_MISMATCH,
            f"PixelData has {present} bytes, Rows x Columns x frames needs {needed}",
        )
