"""SUV factors of individual PET instances, for physicists checking a scanner's header.

Instances are grouped by series so the QIBA rule that compares the series time with the
earliest acquisition time sees the whole series given.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from seganypet_node.imaging.suv import acquisition_datetime, lean_body_mass_kg, suv_scale


@dataclass(frozen=True)
class InstanceSuv:
    """The SUV factors of one file, or why it has none.

    Parameters
    ----------
    file : str
        The file as given.
    units : str
        Units (0054,1001) of the instance.
    suvbw, sul : float | None
        SUVbw and SUL per rescaled pixel value (stored value x RescaleSlope + RescaleIntercept).
    lean_body_mass_kg : float | None
        Janmahasatian lean body mass behind the SUL.
    rescale_slope, rescale_intercept : float
        Of this instance (applied before the factor).
    rule, reason : str | None
        Which rule gave SUVbw, or why it cannot be had.
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


def instance_suv_factors(paths: Sequence[Path]) -> list[InstanceSuv]:
    """SUV factors of every file in ``paths`` (folders are walked), in the order found."""
    files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p])
             if f.is_file()]
    headers: dict[Path, pydicom.Dataset | str] = {}
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            headers[path] = f"not a DICOM file: {exc}"
            continue
        headers[path] = ds
        acquired = acquisition_datetime(ds)
        if acquired is not None:
            times[str(ds.get("SeriesInstanceUID", ""))].append(acquired)
    return [_factors(path, header, times) for path, header in headers.items()]


def _factors(path: Path, header: pydicom.Dataset | str,
             times: dict[str, list[dt.datetime]]) -> InstanceSuv:
    if isinstance(header, str):
        return InstanceSuv(str(path), "", None, None, None, 1.0, 0.0, None, header)
    slope = float(header.get("RescaleSlope", 1) or 1)
    intercept = float(header.get("RescaleIntercept", 0) or 0)
    if str(header.get("Modality", "")) != "PT":
        return InstanceSuv(str(path), str(header.get("Units", "")), None, None, None, slope,
                           intercept, None, f"Modality is {header.get('Modality', '(missing)')}, "
                           "not PT")
    scale = suv_scale(header, times.get(str(header.get("SeriesInstanceUID", "")), []))
    return InstanceSuv(str(path), scale.units, scale.suvbw, scale.sul, lean_body_mass_kg(header),
                       slope, intercept, None if scale.suvbw is None else scale.rule,
                       scale.reason)
