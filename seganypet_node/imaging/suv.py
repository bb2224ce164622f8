"""SUV body weight (and SUL) of a PET series from its header, by the QIBA vendor-neutral rules.

The factor multiplies the *rescaled* pixel value (stored value x RescaleSlope + RescaleIntercept,
per slice) to give SUVbw. When SUV cannot be computed the reason says why, and the series is
measured in its own units instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.valuerep import DA, DT, TM

from seganypet_node.errors import NodeError

GE_PRIVATE_CREATOR = "GEMS_PETD_01"
PHILIPS_PRIVATE_CREATOR = "Philips PET Private Group"


@dataclass(frozen=True)
class SuvScale:
    """How to turn rescaled pixel values into Bq/ml and SUV.

    Parameters
    ----------
    units : str
        The series' Units (0054,1001): BQML, CNTS, GML, ...
    bqml : float | None
        Bq/ml per rescaled value (1 for BQML), None when unknown.
    suvbw : float | None
        SUVbw per rescaled value, None when SUV cannot be computed.
    sul : float | None
        SUL (lean body mass, Janmahasatian) per rescaled value, None when unknown.
    rule : str
        Which rule gave the factor (for physicists and the SR).
    reason : str | None
        Why SUVbw is absent.
    """

    units: str
    bqml: float | None
    suvbw: float | None
    sul: float | None
    rule: str
    reason: str | None = None


class SuvUnavailableError(NodeError, ValueError):
    """The header does not allow SUV; the message says why."""


def suv_scale(first: Dataset, acquisition_times: Sequence[dt.datetime] = ()) -> SuvScale:
    """SUV factors of a series from one of its instances (and the series' acquisition times)."""
    units = str(first.get("Units", "")).upper()
    bqml = _bqml_per_value(first, units)
    try:
        suvbw, rule = _suvbw(first, units, acquisition_times)
    except SuvUnavailableError as exc:
        return SuvScale(units, bqml, None, None, "none", str(exc))
    lbm = lean_body_mass_kg(first)
    weight = header_float(first, "PatientWeight")
    sul = suvbw * lbm / weight if lbm is not None and weight else None
    return SuvScale(units, bqml, suvbw, sul, rule)


def lean_body_mass_kg(ds: Dataset) -> float | None:
    """Lean body mass by Janmahasatian et al. (2005), as SUL uses; None without sex/height."""
    weight, height = header_float(ds, "PatientWeight"), header_float(ds, "PatientSize")
    sex = str(ds.get("PatientSex", "")).upper()
    if not weight or not height or sex not in ("M", "F"):
        return None
    bmi = weight / height**2
    if sex == "M":
        return 9270.0 * weight / (6680.0 + 216.0 * bmi)
    return 9270.0 * weight / (8780.0 + 244.0 * bmi)


def _bqml_per_value(ds: Dataset, units: str) -> float | None:
    if units == "BQML":
        return 1.0
    if units == "CNTS":
        factor = _private_float(ds, PHILIPS_PRIVATE_CREATOR, 0x7053, 0x09)
        return factor
    return None


def _suvbw(ds: Dataset, units: str,
           acquisition_times: Sequence[dt.datetime]) -> tuple[float, str]:
    _require_corrections(ds)
    if units == "GML":
        return 1.0, "GML: values are SUVbw already"
    if units == "CNTS":
        philips = _private_float(ds, PHILIPS_PRIVATE_CREATOR, 0x7053, 0x00)
        if philips:
            return philips, "CNTS: Philips SUV scale factor (7053,1000)"
        bqml = _bqml_per_value(ds, units)
        if not bqml:
            raise SuvUnavailableError("Units CNTS without Philips (7053,1000) or (7053,1009)")
        factor, rule = _bqml_factor(ds, acquisition_times)
        return factor * bqml, f"CNTS via Philips (7053,1009) to Bq/ml; {rule}"
    if units != "BQML":
        raise SuvUnavailableError(f"Units {units or '(missing)'} is not BQML, CNTS or GML")
    return _bqml_factor(ds, acquisition_times)


def _require_corrections(ds: Dataset) -> None:
    corrected = {str(v).upper() for v in header_values(ds, "CorrectedImage")}
    missing = {"ATTN", "DECY"} - corrected
    if missing:
        raise SuvUnavailableError(f"CorrectedImage lacks {', '.join(sorted(missing))}")
    decay = str(ds.get("DecayCorrection", "")).upper()
    if decay != "START":
        raise SuvUnavailableError(f"DecayCorrection is {decay or '(missing)'}, not START")


def _bqml_factor(ds: Dataset, acquisition_times: Sequence[dt.datetime]) -> tuple[float, str]:
    weight = header_float(ds, "PatientWeight")
    if not weight:
        raise SuvUnavailableError("PatientWeight is missing or zero")
    item = radiopharmaceutical(ds)
    dose = header_float(item, "RadionuclideTotalDose")
    half_life = header_float(item, "RadionuclideHalfLife")
    if not dose or not half_life:
        raise SuvUnavailableError("RadionuclideTotalDose or RadionuclideHalfLife is missing")
    scan, scan_rule = scan_time(ds, acquisition_times)
    injection = injection_time(item, ds, scan)
    elapsed = (scan - injection).total_seconds()
    if elapsed < 0:
        raise SuvUnavailableError("injection time is after the scan time")
    decayed = dose * 2.0 ** (-elapsed / half_life)
    return weight * 1000.0 / decayed, f"BQML: dose decayed to {scan_rule}"


def scan_time(ds: Dataset, acquisition_times: Sequence[dt.datetime]) -> tuple[dt.datetime, str]:
    series = _datetime(ds.get("SeriesDate"), ds.get("SeriesTime"))
    if series is None:
        raise SuvUnavailableError("SeriesDate/SeriesTime is missing")
    earliest = min(acquisition_times) if acquisition_times else None
    if earliest is None or series <= earliest:
        return series, "series time"
    ge = _private_text(ds, GE_PRIVATE_CREATOR, 0x0009, 0x0D)
    if ge:
        parsed = parse_datetime(ge)
        if parsed is not None:
            return parsed, "GE private scan time (0009,100D)"
    return earliest, "earliest acquisition time (series time is later)"


def injection_time(item: Dataset, ds: Dataset, scan: dt.datetime) -> dt.datetime:
    full = item.get("RadiopharmaceuticalStartDateTime")
    if full:
        parsed = parse_datetime(str(full))
        if parsed is not None:
            return parsed
    time = item.get("RadiopharmaceuticalStartTime")
    if not time:
        raise SuvUnavailableError("radiopharmaceutical start time is missing")
    injection = _datetime(ds.get("SeriesDate"), time)
    if injection is None:
        raise SuvUnavailableError("radiopharmaceutical start time does not parse")
    if injection > scan:  # injected before midnight, scanned after
        injection -= dt.timedelta(days=1)
    return injection


def radiopharmaceutical(ds: Dataset) -> Dataset:
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    if not sequence:
        raise SuvUnavailableError("RadiopharmaceuticalInformationSequence is missing")
    return sequence[0]


def acquisition_datetime(ds: Dataset) -> dt.datetime | None:
    """AcquisitionDate/AcquisitionTime of one instance (SeriesDate when the date is absent)."""
    return _datetime(ds.get("AcquisitionDate") or ds.get("SeriesDate"), ds.get("AcquisitionTime"))


def _datetime(date: object, time: object) -> dt.datetime | None:
    if not date or not time:
        return None
    try:
        day = DA(str(date))
        clock = TM(str(time))
    except ValueError:
        return None
    if day is None or clock is None:
        return None
    return dt.datetime.combine(day, clock)


def parse_datetime(text: str) -> dt.datetime | None:
    try:
        value = DT(text.strip())
    except ValueError:
        return None
    return None if value is None else value.replace(tzinfo=None)


def header_float(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def header_values(ds: Dataset, keyword: str) -> list[object]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    return [value] if isinstance(value, str) else list(value)


def _private_element(ds: Dataset, creator: str, group: int, offset: int) -> object | None:
    try:
        block = ds.private_block(group, creator)
    except KeyError:
        return None
    return block[offset].value if offset in block else None


def _private_float(ds: Dataset, creator: str, group: int, offset: int) -> float | None:
    value = _private_element(ds, creator, group, offset)
    if value is None:
        return None
    try:
        text = value.decode().strip("\0 ") if isinstance(value, bytes) else str(value)
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number or None


def _private_text(ds: Dataset, creator: str, group: int, offset: int) -> str | None:
    value = _private_element(ds, creator, group, offset)
    if value is None:
        return None
    return value.decode(errors="replace").strip("\0 ") if isinstance(value, bytes) else str(value)
