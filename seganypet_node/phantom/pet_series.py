"""Write a Bq/ml volume as a PET Image Storage series with a complete scanner-like header."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from seganypet_node.dicom.sop import PET_IMAGE_STORAGE
from seganypet_node.phantom.anatomy import Grid
from seganypet_node.phantom.physics import F18_HALF_LIFE_S, F18_POSITRON_FRACTION, Acquisition

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1499.1"  # pydicom root + project suffix
BED_LENGTH_MM = 160.0
BED_DURATION_S = 120


@dataclass(frozen=True)
class StudyIdentity:
    """Synthetic patient and study identifiers (no real person)."""

    patient_name: str
    patient_id: str
    patient_sex: str
    birth_date: str
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    accession_number: str


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def write_pet_series(
    bqml: np.ndarray, grid: Grid, acquisition: Acquisition, identity: StudyIdentity, out: Path
) -> list[Path]:
    """Write one file per axial slice (head first) into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    base = _series_header(acquisition, identity, grid, bqml.shape[0])
    paths = []
    nz = bqml.shape[0]
    for number, k in enumerate(range(nz - 1, -1, -1), start=1):  # head first, as scanners do
        ds = _slice(base, bqml[k], grid, k, number, acquisition)
        path = out / f"PT{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def study_header(acq: Acquisition, who: StudyIdentity) -> Dataset:
    """Patient, study, equipment and frame of reference: shared by the PET and CT series."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID = who.patient_name, who.patient_id
    ds.PatientBirthDate, ds.PatientSex = who.birth_date, who.patient_sex
    ds.PatientAge = f"{_age(who.birth_date, acq.series_time.date()):03d}Y"
    ds.PatientWeight, ds.PatientSize = f"{acq.weight_kg:g}", f"{acq.height_m:g}"
    ds.StudyInstanceUID = who.study_uid
    ds.StudyDate = acq.series_time.strftime("%Y%m%d")
    ds.StudyTime = acq.injection_time.strftime("%H%M%S")
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", who.accession_number, ""
    ds.StudyDescription = "PET/CT WHOLE BODY FDG"
    ds.BodyPartExamined = "WHOLEBODY"
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = who.frame_of_reference_uid, ""
    ds.Manufacturer = "seganypet-node phantom"
    ds.ManufacturerModelName, ds.SoftwareVersions = "FDG phantom", "0.1.0"
    ds.InstitutionName, ds.StationName = "SYNTHETIC", "PHANTOM"
    return ds


def image_plane(ds: Dataset, grid: Grid) -> None:
    """Axial image plane and 16-bit signed pixel module on ``grid``."""
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.Rows, ds.Columns = grid.shape[1], grid.shape[2]
    ds.PixelSpacing = [f"{grid.spacing[1]:g}", f"{grid.spacing[0]:g}"]
    ds.SliceThickness = f"{grid.spacing[2]:g}"
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]


def place_slice(ds: Dataset, grid: Grid, k: int) -> None:
    """Position of array slice ``k`` (z ascending with k)."""
    z = grid.origin[2] + k * grid.spacing[2]
    ds.ImagePositionPatient = [f"{grid.origin[0]:g}", f"{grid.origin[1]:g}", f"{z:g}"]
    ds.SliceLocation = f"{z:g}"


def _series_header(acq: Acquisition, who: StudyIdentity, grid: Grid, slices: int) -> Dataset:
    ds = study_header(acq, who)
    ds.SOPClassUID = PET_IMAGE_STORAGE
    ds.SeriesInstanceUID = who.series_uid
    ds.SeriesDate = acq.series_time.strftime("%Y%m%d")
    ds.SeriesTime = acq.series_time.strftime("%H%M%S")
    ds.Modality, ds.SeriesNumber = "PT", 2
    ds.SeriesDescription = "WB FDG AC (phantom)"
    ds.Units, ds.CountsSource, ds.SeriesType = "BQML", "EMISSION", ["WHOLE BODY", "IMAGE"]
    ds.NumberOfSlices, ds.DecayCorrection = slices, "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
    ds.RandomsCorrectionMethod, ds.CollimatorType = "DLYD", "NONE"
    ds.AttenuationCorrectionMethod = "measured, CT-based"
    ds.ScatterCorrectionMethod = "single scatter simulation"
    ds.ReconstructionMethod = "OSEM 3i21s"
    ds.ReconstructionDiameter = f"{grid.shape[2] * grid.spacing[0]:g}"
    ds.RadiopharmaceuticalInformationSequence = Sequence([_radiopharmaceutical(acq)])
    ds.PatientOrientationCodeSequence = Sequence([code("102538003", "SCT", "recumbent")])
    ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence = Sequence(
        [code("40199007", "SCT", "supine")])
    ds.PatientGantryRelationshipCodeSequence = Sequence([code("102540008", "SCT", "headfirst")])
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    image_plane(ds, grid)
    ds.RescaleIntercept = 0
    ds.DoseCalibrationFactor = 1
    return ds


def _radiopharmaceutical(acq: Acquisition) -> Dataset:
    item = Dataset()
    item.Radiopharmaceutical = "Fluorodeoxyglucose"
    item.RadiopharmaceuticalCodeSequence = Sequence(
        [code("35321007", "SCT", "Fluorodeoxyglucose F^18^")])
    item.RadionuclideCodeSequence = Sequence([code("77004003", "SCT", "^18^Fluorine")])
    item.RadiopharmaceuticalRoute = "Intravenous"
    item.RadiopharmaceuticalStartTime = acq.injection_time.strftime("%H%M%S")
    item.RadiopharmaceuticalStartDateTime = acq.injection_time.strftime("%Y%m%d%H%M%S")
    item.RadionuclideTotalDose = f"{acq.injected_dose_bq:.6g}"
    item.RadionuclideHalfLife = f"{F18_HALF_LIFE_S:g}"
    item.RadionuclidePositronFraction = f"{F18_POSITRON_FRACTION:g}"
    return item


def _slice(base: Dataset, values: np.ndarray, grid: Grid, k: int, number: int,
           acq: Acquisition) -> Dataset:
    ds = Dataset()
    ds.update(base)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber, ds.ImageIndex = number, number
    place_slice(ds, grid, k)
    bed = int((number - 1) * grid.spacing[2] // BED_LENGTH_MM)
    start = acq.series_time + dt.timedelta(seconds=bed * BED_DURATION_S)
    ds.AcquisitionDate, ds.AcquisitionTime = start.strftime("%Y%m%d"), start.strftime("%H%M%S")
    ds.ContentDate, ds.ContentTime = ds.AcquisitionDate, ds.AcquisitionTime
    offset_s = (start - acq.series_time).total_seconds()
    ds.FrameReferenceTime = f"{(offset_s + BED_DURATION_S / 2) * 1000:.0f}"
    ds.ActualFrameDuration = BED_DURATION_S * 1000
    ds.DecayFactor = f"{_decay_factor(offset_s, BED_DURATION_S):.6f}"
    stored, slope = _to_int16(values)
    ds.RescaleSlope = f"{slope:.8g}"
    ds.LargestImagePixelValue = int(stored.max())
    ds.SmallestImagePixelValue = int(stored.min())
    ds.PixelData = stored.tobytes()
    ds.file_meta = file_meta(ds)
    return ds


def _to_int16(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-slice scaling to signed 16 bit, as most scanners store PET."""
    peak = float(values.max())
    slope = peak / 32767.0 if peak > 0 else 1.0
    stored = np.round(values / slope).clip(0, 32767).astype("<i2")
    return stored, slope


def _decay_factor(offset_s: float, duration_s: float) -> float:
    """Correction from activity during the frame to activity at series start."""
    lam = math.log(2) / F18_HALF_LIFE_S
    return math.exp(lam * offset_s) * lam * duration_s / (1 - math.exp(-lam * duration_s))


def file_meta(ds: Dataset) -> FileMetaDataset:
    """File meta information for writing ``ds`` as explicit VR little endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    meta.ImplementationVersionName = "SEGANYPET_010"
    return meta


def _age(birth_date: str, on: dt.date) -> int:
    born = dt.datetime.strptime(birth_date, "%Y%m%d").date()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

