"""``suv``: the SUV factors of PET series from their headers, and what they rest on.

By default one block per series: the header values the factors use (weight, size, dose,
half-life, injection and reference time, uptake, decay correction, Units), the SUVbw and SUL
factors (their spread when instances disagree) and how many instances cannot be converted,
and why. ``--per-instance`` prints every instance's factors and rule instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from typing import Any

from seganypet_node.commands import print_json
from seganypet_node.config import Config
from seganypet_node.imaging.suv_report import (
    FactorSpread,
    InstanceSuv,
    SeriesSuv,
    SuvInputs,
    SuvReport,
)


def suv(config: Config, args: argparse.Namespace) -> int:
    """Print each series' SUVbw and SUL factors and their inputs, or why there are none.

    Parameters
    ----------
    config : Config
        Unused (the command reads only the files given).
    args : argparse.Namespace
        ``files`` (files or folders), ``json`` and ``per_instance``.

    Returns
    -------
    int
        0 when some instance has an SUVbw factor, else 1.
    """
    from seganypet_node.imaging.suv_report import suv_report

    report = suv_report(args.files)
    per_instance = bool(getattr(args, "per_instance", False))
    if not report.series:
        what = "no DICOM files" if report.skipped_files else "no files"
        print(f"seganypet-node: {what} found", file=sys.stderr)
        return 1
    if args.json:
        print_json(_json(report, per_instance))
    else:
        for number, block in enumerate(report.series):
            if per_instance:
                print("\n".join(_instance_lines(block.per_instance)))
            else:
                print("\n".join(([""] if number else []) + _series_lines(block)))
        if report.skipped_files:
            print(f"skipped {report.skipped_files} file(s) that are not DICOM, e.g. "
                  f"{report.skipped_example}")
    return 0 if any(s.convertible for s in report.series) else 1


def _json(report: SuvReport, per_instance: bool) -> dict[str, Any]:
    series = []
    for block in report.series:
        plain = dataclasses.asdict(block)
        if not per_instance:
            del plain["per_instance"]
        series.append(plain)
    return {"series": series, "skipped_files": report.skipped_files,
            "skipped_example": report.skipped_example}


def _series_lines(block: SeriesSuv) -> list[str]:
    lines = [f"series {block.series_uid or '(no SeriesInstanceUID)'}",
             f"  instances   {block.instances}, {block.convertible} with SUV"]
    if block.inputs is not None:
        lines += _input_lines(block.inputs)
        if block.inputs_differ:
            lines.append(f"  note        not all instances agree on "
                         f"{', '.join(block.inputs_differ)} (see --per-instance); shown: "
                         f"the first instance with SUV")
    if block.first_acquisition is not None and block.last_acquisition is not None:
        lines.append(f"  acquired    {_time(block.first_acquisition)} to "
                     f"{_time(block.last_acquisition)}")
    if block.suvbw is not None:
        lines.append(f"  SUVbw       {_factor(block.suvbw)} per rescaled value")
        lines += [f"  rule        {rule}" for rule in block.rules]
        if not any("dose decayed" in rule for rule in block.rules):
            lines.append("  note        this rule uses no weight, dose or times")
        lines.append(f"  SUL         {_factor(block.sul)} per rescaled value"
                     if block.sul is not None else "  SUL         none (needs sex, height, weight)")
    for failure in block.failures:
        lines.append(f"  no SUV      {failure.instances} instance(s): {failure.reason}")
    return lines


def _input_lines(inputs: SuvInputs) -> list[str]:
    lbm = (f" (lean body mass {inputs.lean_body_mass_kg:.1f} kg, for SUL)"
           if inputs.lean_body_mass_kg is not None else " (SUL needs sex, height, weight)")
    half = (f"{inputs.half_life_s:g} s ({inputs.half_life_s / 60:.1f} min)"
            if inputs.half_life_s else "-")
    reference = (f"{_time(inputs.reference_time)} ({inputs.reference})"
                 if inputs.reference_time is not None else "- (SeriesDate/SeriesTime missing)")
    uptake = f"{inputs.uptake_min:.1f} min" if inputs.uptake_min is not None else "-"
    if inputs.decayed_dose_mbq is not None:
        uptake += f"; dose decayed to {inputs.decayed_dose_mbq:.6g} MBq at the reference time"
    return [
        f"  units       {inputs.units or '-'}; decay correction "
        f"{inputs.decay_correction or '-'}; corrected {', '.join(inputs.corrected_image) or '-'}",
        f"  patient     weight {_num(inputs.weight_kg, 'kg')}, size {_num(inputs.size_m, 'm')}, "
        f"sex {inputs.sex or '-'}{lbm}",
        f"  dose        {_num(inputs.dose_mbq, 'MBq', '.6g')}; half-life {half}",
        f"  injection   {_time(inputs.injection)}",
        f"  reference   {reference}",
        f"  uptake      {uptake}",
    ]


def _instance_lines(rows: tuple[InstanceSuv, ...]) -> list[str]:
    lines = []
    for r in rows:
        lines.append(r.file)
        if r.suvbw is None:
            lines.append(f"  units {r.units or '-'}: no SUV: {r.reason}")
            continue
        sul = f"{r.sul:.6g}" if r.sul is not None else "none (needs sex, height, weight)"
        lbm = f" (lean body mass {r.lean_body_mass_kg:.1f} kg)" \
            if r.lean_body_mass_kg is not None else ""
        lines.append(f"  units {r.units}: SUVbw factor {r.suvbw:.6g}, SUL factor {sul}{lbm}")
        lines.append(f"  per rescaled value (slope {r.rescale_slope:g}, intercept "
                     f"{r.rescale_intercept:g}); rule: {r.rule}")
    return lines


def _factor(spread: FactorSpread) -> str:
    if spread.differing == 0:
        return f"{spread.common:.6g}"
    return (f"min {spread.minimum:.6g}, median {spread.median:.6g}, max {spread.maximum:.6g} "
            f"({spread.differing} of {spread.instances} instances differ from "
            f"{spread.common:.6g})")


def _num(value: float | None, unit: str, spec: str = "g") -> str:
    return "-" if value is None else f"{value:{spec}} {unit}"


def _time(value: dt.datetime | None) -> str:
    return "-" if value is None else value.isoformat(sep=" ")
