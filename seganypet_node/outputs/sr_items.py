"""Codes, rounding and shared context of the TID 1500 report's measurement groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from seganypet_node.imaging.units import Unit

SUVBW = hd.sr.CodedConcept("126401", "DCM", "SUVbw")
SUVBW_UNIT = hd.sr.CodedConcept("{SUVbw}g/ml", "UCUM", "Standardized Uptake Value body weight")
SUL = hd.sr.CodedConcept("126405", "DCM", "SUVlbm(Janma)")
SUL_UNIT = hd.sr.CodedConcept("{SUVlbm(Janma)}g/ml", "UCUM",
                              "Standardized Uptake Value lean body mass (Janma)")
BQML_UNIT = hd.sr.CodedConcept("Bq/mL", "UCUM", "Becquerels/milliliter")
NO_UNIT = hd.sr.CodedConcept("1", "UCUM", "no units")
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
GRAM = hd.sr.CodedConcept("g", "UCUM", "gram")
MM = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
LESIONS_UNIT = hd.sr.CodedConcept("{lesions}", "UCUM", "lesions")
VOXEL_SUM = hd.sr.CodedConcept("126030", "DCM", "Sum of segmented voxel volumes")
MEAN = hd.sr.CodedConcept.from_code(codes.SCT.Mean)
MAXIMUM = hd.sr.CodedConcept.from_code(codes.SCT.Maximum)
PEAK = hd.sr.CodedConcept.from_code(codes.DCM.PeakValueWithinROI)
SD = hd.sr.CodedConcept.from_code(codes.SCT.StandardDeviation)  # CID 7464, not DCM 113061
TOTAL = hd.sr.CodedConcept.from_code(codes.SCT.Total)
# Two decimals of SUV are below a PET's noise; more digits suggest a precision it lacks.
SUV_DECIMALS = 2
ML_DECIMALS = 2  # 0.01 ml is under a voxel of a typical 4 mm grid (0.064 ml)
MM_DECIMALS = 1
SIGNIFICANT = 4  # activity concentrations and other units without a natural decimal


def rounded(value: float, unit: hd.sr.CodedConcept) -> float:
    """``value`` to the precision its unit supports (never a float's 15 digits)."""
    if unit in (SUVBW_UNIT, SUL_UNIT, GRAM):
        return round(value, SUV_DECIMALS)
    if unit == ML:
        return round(value, ML_DECIMALS)
    if unit == MM:
        return round(value, MM_DECIMALS)
    if value == 0:
        return 0.0
    return float(f"{value:.{SIGNIFICANT}g}")


def measurement(name: hd.sr.CodedConcept | Code, value: float,
                unit: hd.sr.CodedConcept, derivation: hd.sr.CodedConcept | None = None,
                method: hd.sr.CodedConcept | None = None) -> hd.sr.Measurement:
    """One NUM with its value rounded for its unit."""
    return hd.sr.Measurement(name=name, value=rounded(value, unit), unit=unit,
                             derivation=derivation, method=method)


def quantity(unit: Unit) -> tuple[hd.sr.CodedConcept, hd.sr.CodedConcept]:
    """Concept name and UCUM unit of uptake values measured in ``unit``."""
    if unit.is_suv:
        return SUVBW, SUVBW_UNIT
    activity = hd.sr.CodedConcept.from_code(codes.DCM.NuclearMedicineTomographicActivity)
    return activity, BQML_UNIT if unit is Unit.BQML else NO_UNIT


@dataclass(frozen=True, eq=False)
class GroupContext:
    """What every measurement group of one report shares.

    Parameters
    ----------
    seg : pydicom.Dataset
        The SEG whose segments the groups reference (by tracking identifier).
    source_series_uid : str
        The PET series the SEG was made on.
    time_point : hd.sr.TimePointContext
        The study's time point.
    algorithm : hd.sr.AlgorithmIdentification
        SegAnyPET, its version and checkpoint.
    """

    seg: Dataset
    source_series_uid: str
    time_point: hd.sr.TimePointContext
    algorithm: hd.sr.AlgorithmIdentification

    def segment(self, label: str) -> tuple[int, str] | None:
        """Number and TrackingUID of the segment tracked as ``label``; None when absent."""
        for item in self.seg.SegmentSequence:
            if str(item.TrackingID) == label:
                return int(item.SegmentNumber), str(item.TrackingUID)
        return None

    def referenced_segment(self, number: int) -> hd.sr.ReferencedSegment:
        """Reference to segment ``number`` of the SEG, on the source series."""
        return hd.sr.ReferencedSegment(
            sop_class_uid=self.seg.SOPClassUID, sop_instance_uid=self.seg.SOPInstanceUID,
            segment_number=number,
            source_series=hd.sr.SourceSeriesForSegmentation(self.source_series_uid))


def algorithm_identification(name: str, version: str,
                             parameters: Sequence[str]) -> hd.sr.AlgorithmIdentification:
    """TID 4019 algorithm identification (parameters as ``key=value`` texts)."""
    return hd.sr.AlgorithmIdentification(name=name, version=version,
                                         parameters=list(parameters) or None)
