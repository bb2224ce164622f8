"""SUV factors of PET instances and series, for physicists checking a scanner's header.

Instances are grouped by series so the QIBA rule that compares the series time with the
earliest acquisition time sees the whole series given. The values behind the factors are read
with the rules' own helpers (:mod:`seganypet_node.imaging.suv`): the values the factors used.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from seganypet_node.imaging import suv
from seganypet_node.imaging.suv import SuvUnavailableError, acquisition_datetime, lean_body_mass_kg


@dataclass(frozen=True)
class SuvInputs:
    """The header values an instance's SUV factors rest on; None where the header lacks them.

    Parameters
    ----------
    units, decay_correction : str
        Units (0054,1001) and DecayCorrection (0054,1102).
    corrected_image : tuple[str, ...]
        CorrectedImage (0028,0051); SUV needs ATTN and DECY.
    weight_kg, size_m, sex : float | None, float | None, str
        PatientWeight, PatientSize and PatientSex (size and sex only serve the SUL).
    lean_body_mass_kg : float | None
        Janmahasatian lean body mass behind the SUL.
    dose_mbq, half_life_s : float | None
        RadionuclideTotalDose (in MBq) and RadionuclideHalfLife.
    injection : datetime.datetime | None
        Radiopharmaceutical start (date)time as the rule reads it.
    reference_time, reference : datetime.datetime | None, str | None
        The time the dose is decayed to, and which it is (series time, earliest acquisition
        time or GE private scan time).
    uptake_min, decayed_dose_mbq : float | None
        Reference minus injection time in minutes, and the dose decayed to the reference time.
    """

    units: str
    decay_correction: str
    corrected_image: tuple[str, ...]
    weight_kg: float | None
    size_m: float | None
    sex: str
    lean_body_mass_kg: float | None
    dose_mbq: float | None
    half_life_s: float | None
    injection: dt.datetime | None
    reference_time: dt.datetime | None
    reference: str | None
    uptake_min: float | None
    decayed_dose_mbq: float | None


@dataclass(frozen=True)
class InstanceSuv:
    """The SUV factors of one file, or why it has none.

    Parameters
    ----------
    file, units : str
        The file as given, and its Units (0054,1001).
    suvbw, sul : float | None
        SUVbw and SUL per rescaled pixel value (stored value x RescaleSlope + RescaleIntercept).
    lean_body_mass_kg : float | None
        Janmahasatian lean body mass behind the SUL.
    rescale_slope, rescale_intercept : float
        Of this instance (applied before the factor).
    rule, reason : str | None
        Which rule gave SUVbw, or why it cannot be had.
    series_uid, acquisition : str, datetime.datetime | None
        SeriesInstanceUID ("" when absent) and AcquisitionDate/AcquisitionTime.
    inputs : SuvInputs | None
        The header values behind the factors (None when the instance is not PT).
    """

    file: str
    units: str
    suvbw: float | None
    sul: float | None
    lean_body_mass_kg: float | None
    rescale_slope: float
    rescale_intercept: float
    rule: str | None
    reason: str | None
    series_uid: str = ""
    acquisition: dt.datetime | None = None
    inputs: SuvInputs | None = None


@dataclass(frozen=True)
class FactorSpread:
    """A factor over the instances of a series that have it.

    Parameters
    ----------
    minimum, median, maximum, common : float
        Over those instances; ``common`` is the value most share (to 9 significant digits).
    instances, differing : int
        How many instances have the factor, and how many of them another value than ``common``.
    """

    minimum: float
    median: float
    maximum: float
    common: float
    instances: int
    differing: int


@dataclass(frozen=True)
class SuvFailure:
    """Why some instances of a series have no SUV, and how many.

    Parameters
    ----------
    reason, instances : str, int
        As :func:`~seganypet_node.imaging.suv.suv_scale` gives it, and how many instances.
    """

    reason: str
    instances: int


@dataclass(frozen=True)
class SeriesSuv:
    """The SUV factors of one series and what they rest on.

    Parameters
    ----------
    series_uid, instances, convertible : str, int, int
        SeriesInstanceUID ("" for instances without one); instances given, those with SUVbw.
    inputs : SuvInputs | None
        Of the first instance with SUV (else the first PT instance; None without PT).
    inputs_differ : tuple[str, ...]
        Names of the :class:`SuvInputs` fields that not all PT instances share.
    rules : tuple[str, ...]
        The rules that gave SUVbw.
    suvbw, sul : FactorSpread | None
        The factors per rescaled value; None when no instance has them.
    failures : tuple[SuvFailure, ...]
        Why the other instances have no SUV, most frequent first.
    first_acquisition, last_acquisition : datetime.datetime | None
        Earliest and latest AcquisitionDate/AcquisitionTime.
    per_instance : tuple[InstanceSuv, ...]
        The instances, in the order found.
    """

    series_uid: str
    instances: int
    convertible: int
    inputs: SuvInputs | None
    inputs_differ: tuple[str, ...]
    rules: tuple[str, ...]
    suvbw: FactorSpread | None
    sul: FactorSpread | None
    failures: tuple[SuvFailure, ...]
    first_acquisition: dt.datetime | None
    last_acquisition: dt.datetime | None
    per_instance: tuple[InstanceSuv, ...]


@dataclass(frozen=True)
class SuvReport:
    """All series found, and the files skipped because they are not DICOM.

    Parameters
    ----------
    series : tuple[SeriesSuv, ...]
        In the order their first file was found.
    skipped_files, skipped_example : int, str | None
        How many files are not DICOM, and one of them with why it does not read.
    """

    series: tuple[SeriesSuv, ...]
    skipped_files: int
    skipped_example: str | None


def suv_report(paths: Sequence[Path]) -> SuvReport:
    """SUV factors of every DICOM file in ``paths`` (folders are walked), series by series."""
    rows, skipped = _instances(paths)
    groups: dict[str, list[InstanceSuv]] = defaultdict(list)
    for row in rows:
        groups[row.series_uid].append(row)
    return SuvReport(tuple(_series(uid, group) for uid, group in groups.items()),
                     len(skipped), skipped[0] if skipped else None)


def _instances(paths: Sequence[Path]) -> tuple[list[InstanceSuv], list[str]]:
    files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p])
             if f.is_file()]
    headers: dict[Path, Dataset] = {}
    skipped: list[str] = []
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            skipped.append(f"{path} (not a DICOM file: {exc})")
            continue
        headers[path] = ds
        acquired = acquisition_datetime(ds)
        if acquired is not None:
            times[str(ds.get("SeriesInstanceUID", ""))].append(acquired)
    rows = [_factors(path, ds, times.get(str(ds.get("SeriesInstanceUID", "")), []))
            for path, ds in headers.items()]
    return rows, skipped


def _factors(path: Path, header: Dataset, times: Sequence[dt.datetime]) -> InstanceSuv:
    slope = float(header.get("RescaleSlope", 1) or 1)
    intercept = float(header.get("RescaleIntercept", 0) or 0)
    uid, acquired = str(header.get("SeriesInstanceUID", "")), acquisition_datetime(header)
    if str(header.get("Modality", "")) != "PT":
        return InstanceSuv(str(path), str(header.get("Units", "")), None, None, None, slope,
                           intercept, None, f"Modality is {header.get('Modality', '(missing)')}, "
                           "not PT", uid, acquired)
    scale = suv.suv_scale(header, times)
    return InstanceSuv(str(path), scale.units, scale.suvbw, scale.sul, lean_body_mass_kg(header),
                       slope, intercept, None if scale.suvbw is None else scale.rule,
                       scale.reason, uid, acquired, suv_inputs(header, times))


def suv_inputs(ds: Dataset, acquisition_times: Sequence[dt.datetime] = ()) -> SuvInputs:
    """The header values behind an instance's SUV factors, read by the rules SUV uses."""
    try:
        item = suv.radiopharmaceutical(ds)
    except SuvUnavailableError:
        item = Dataset()
    dose, half_life = (suv.header_float(item, "RadionuclideTotalDose"),
                       suv.header_float(item, "RadionuclideHalfLife"))
    reference_time: dt.datetime | None
    try:
        reference_time, reference = suv.scan_time(ds, acquisition_times)
    except SuvUnavailableError:
        reference_time, reference = None, None
    injection = _injection(item, ds, reference_time)
    uptake = decayed = None
    if reference_time is not None and injection is not None:
        elapsed = (reference_time - injection).total_seconds()
        uptake = elapsed / 60.0
        if dose and half_life:
            decayed = dose * 2.0 ** (-elapsed / half_life) / 1e6
    return SuvInputs(
        str(ds.get("Units", "")).upper(), str(ds.get("DecayCorrection", "")).upper(),
        tuple(str(v).upper() for v in suv.header_values(ds, "CorrectedImage")),
        suv.header_float(ds, "PatientWeight"), suv.header_float(ds, "PatientSize"),
        str(ds.get("PatientSex", "")).upper(), lean_body_mass_kg(ds),
        None if dose is None else dose / 1e6, half_life, injection, reference_time, reference,
        uptake, decayed)


def _injection(item: Dataset, ds: Dataset, scan: dt.datetime | None) -> dt.datetime | None:
    if scan is not None:
        try:
            return suv.injection_time(item, ds, scan)
        except SuvUnavailableError:
            return None
    full = item.get("RadiopharmaceuticalStartDateTime")
    return suv.parse_datetime(str(full)) if full else None


def _series(uid: str, rows: list[InstanceSuv]) -> SeriesSuv:
    with_suv = [r for r in rows if r.suvbw is not None]
    pet = [r.inputs for r in rows if r.inputs is not None]
    shown = next((r.inputs for r in with_suv if r.inputs is not None), pet[0] if pet else None)
    differ = tuple(f.name for f in fields(SuvInputs)
                   if len({getattr(i, f.name) for i in pet}) > 1)
    reasons = Counter(r.reason or "unknown" for r in rows if r.suvbw is None)
    acquired = [r.acquisition for r in rows if r.acquisition is not None]
    return SeriesSuv(
        uid, len(rows), len(with_suv), shown, differ,
        tuple(dict.fromkeys(r.rule for r in with_suv if r.rule)),
        _spread([r.suvbw for r in with_suv if r.suvbw is not None]),
        _spread([r.sul for r in with_suv if r.sul is not None]),
        tuple(SuvFailure(reason, n) for reason, n in reasons.most_common()),
        min(acquired, default=None), max(acquired, default=None), tuple(rows))


def _spread(values: list[float]) -> FactorSpread | None:
    if not values:
        return None
    keys = Counter(f"{v:.9g}" for v in values)
    key = keys.most_common(1)[0][0]
    common = next(v for v in values if f"{v:.9g}" == key)
    return FactorSpread(min(values), statistics.median(values), max(values), common,
                        len(values), len(values) - keys[key])
