"""The values the database takes in, apart from the protocol that brings them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceHeader:
    """Identifying and series-level attributes of one received instance: what the database
    records of it (``dicom.header.read_header`` makes one from a data set)."""

    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    modality: str
    frame_of_reference_uid: str | None
    series_number: int | None
    instance_number: int | None
    number_of_slices: int | None
    number_of_frames: int
    corrected_image: tuple[str, ...]
    patient_id: str | None
    study_date: str | None
    accession_number: str | None
