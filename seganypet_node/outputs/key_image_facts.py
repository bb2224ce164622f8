"""What the key image's footer says about the scan: date, uptake time, activity and weight.

Read from the source PET header, so a reader judging SUVs sees the figures they rest on. No
patient name or ID: those stay in the header.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM


@dataclass(frozen=True)
class ScanFacts:
    """The scan's figures a reader checks SUVs against; None where the header lacks them.

    Parameters
    ----------
    study_date : datetime.date | None
        StudyDate.
    uptake_min : float | None
        Scan start (SeriesDate/SeriesTime, else the acquisition time) minus injection time.
    injected_mbq : float | None
        RadionuclideTotalDose in MBq.
    weight_kg : float | None
        PatientWeight.
    """

    study_date: dt.date | None = None
    uptake_min: float | None = None
    injected_mbq: float | None = None
    weight_kg: float | None = None

    def line(self) -> str:
        """One footer line, e.g. ``study 2024-03-15; uptake 62 min; 250 MBq; 72 kg``."""
        return "; ".join([
            f"study {self.study_date.isoformat() if self.study_date else 'date unknown'}",
            f"uptake {self.uptake_min:.0f} min" if self.uptake_min is not None
            else "uptake time unknown",
            f"injected {self.injected_mbq:.0f} MBq" if self.injected_mbq is not None
            else "injected activity unknown",
            f"weight {self.weight_kg:g} kg" if self.weight_kg is not None else "weight unknown"])


def scan_facts(ds: Dataset) -> ScanFacts:
    """The figures of one PET instance's header."""
    item = (ds.get("RadiopharmaceuticalInformationSequence") or [Dataset()])[0]
    dose = _float(item, "RadionuclideTotalDose")
    scan = _combine(ds.get("SeriesDate"), ds.get("SeriesTime")) or _combine(
        ds.get("AcquisitionDate") or ds.get("SeriesDate"), ds.get("AcquisitionTime"))
    injection = _injection(item, ds, scan)
    uptake = None
    if scan is not None and injection is not None and scan >= injection:
        uptake = (scan - injection).total_seconds() / 60.0
    return ScanFacts(_date(ds.get("StudyDate")), uptake,
                     None if dose is None else dose / 1e6, _float(ds, "PatientWeight"))


def _injection(item: Dataset, ds: Dataset, scan: dt.datetime | None) -> dt.datetime | None:
    full = item.get("RadiopharmaceuticalStartDateTime")
    if full:
        try:
            value = DT(str(full).strip())
        except ValueError:
            value = None
        if value is not None:
            return value.replace(tzinfo=None)
    injection = _combine(ds.get("SeriesDate"), item.get("RadiopharmaceuticalStartTime"))
    if injection is not None and scan is not None and injection > scan:
        injection -= dt.timedelta(days=1)  # injected before midnight, scanned after
    return injection


def _date(value: object) -> dt.date | None:
    try:
        return DA(str(value)) if value else None
    except ValueError:
        return None


def _combine(date: object, time: object) -> dt.datetime | None:
    day = _date(date)
    try:
        clock = TM(str(time)) if time else None
    except ValueError:
        return None
    return None if day is None or clock is None else dt.datetime.combine(day, clock)


def _float(ds: Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
