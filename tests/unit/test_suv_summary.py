"""``seganypet-node suv``: one summary per series with the header values behind its factors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from seganypet_node.commands.suv import suv
from seganypet_node.phantom.pet_series import file_meta
from tests.support import cli

HALF_LIFE_F18 = 6586.2
PET_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.128"


def expected_factor(weight_kg: float, dose_bq: float, elapsed_s: float) -> float:
    """By hand: weight in g over the dose decayed to the scan start."""
    return weight_kg * 1000.0 / (dose_bq * 2.0 ** (-elapsed_s / HALF_LIFE_F18))


def pet_header(series_uid: str, number: int) -> Dataset:
    """A BQML PET instance: 75 kg, 1.80 m, M; 300 MBq F-18 at 09:00, series 10:00."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = PET_SOP_CLASS, generate_uid()
    ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, "1.2.3.4"
    ds.Modality, ds.InstanceNumber = "PT", number
    ds.PatientWeight, ds.PatientSize, ds.PatientSex = "75", "1.80", "M"
    ds.SeriesDate, ds.SeriesTime = "20240315", "100000"
    ds.AcquisitionDate = "20240315"
    ds.AcquisitionTime = f"10{number // 10:02d}00"  # a bed every 10 instances, a minute apart
    ds.Units, ds.DecayCorrection = "BQML", "START"
    ds.CorrectedImage = ["ATTN", "DECY", "SCAT"]
    ds.RescaleSlope, ds.RescaleIntercept = f"{1 + number / 100:g}", "0"
    item = Dataset()
    item.RadiopharmaceuticalStartDateTime = "20240315090000"
    item.RadionuclideTotalDose, item.RadionuclideHalfLife = "300000000", f"{HALF_LIFE_F18:g}"
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    return ds


def write_series(folder: Path, count: int, series_uid: str | None = None,
                 change: Callable[[int, Dataset], None] | None = None) -> list[Path]:
    """``count`` instances of one series in ``folder``; ``change(i, ds)`` edits instance i."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or generate_uid()
    paths = []
    for i in range(count):
        ds = pet_header(uid, i + 1)
        if change is not None:
            change(i, ds)
        out = FileDataset(str(folder / f"{i:03d}.dcm"), ds, file_meta=file_meta(ds),
                          preamble=b"\0" * 128)
        out.save_as(out.filename, enforce_file_format=True)
        paths.append(Path(out.filename))
    return paths


def run(capsys: pytest.CaptureFixture[str], *paths: Path, per_instance: bool = False,
        as_json: bool = False) -> tuple[int, str]:
    args = argparse.Namespace(files=list(paths), per_instance=per_instance, json=as_json)
    status = suv(None, args)  # type: ignore[arg-type]  # the command reads no configuration
    return status, capsys.readouterr().out


FACTOR = expected_factor(75, 300e6, 3600)


def test_a_series_prints_one_summary_with_the_values_it_used(tmp_path, capsys) -> None:
    write_series(tmp_path / "pet", 30)
    status, out = run(capsys, tmp_path / "pet")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) <= 20  # one block, not three lines per instance
    assert sum(line.startswith("series ") for line in lines) == 1
    assert "instances   30, 30 with SUV" in out
    assert "weight 75 kg, size 1.8 m, sex M" in out and "lean body mass" in out
    assert "300 MBq" in out and "half-life 6586.2 s" in out
    assert "injection   2024-03-15 09:00:00" in out
    assert "reference   2024-03-15 10:00:00 (series time)" in out
    assert "uptake      60.0 min" in out and "decay correction START" in out
    assert "units       BQML" in out
    assert "acquired    2024-03-15 10:00:00 to 2024-03-15 10:03:00" in out
    assert f"SUVbw       {FACTOR:.6g} per rescaled value" in out
    assert "SUL         " in out and "differ" not in out


def test_per_instance_gives_one_entry_per_instance(tmp_path, capsys) -> None:
    files = write_series(tmp_path / "pet", 30)
    status, out = run(capsys, tmp_path / "pet", per_instance=True)
    assert status == 0
    assert [line for line in out.splitlines() if not line.startswith(" ")] == \
        [str(f) for f in files]
    assert out.count(f"SUVbw factor {FACTOR:.6g}") == 30


def test_two_series_give_two_blocks(tmp_path, capsys) -> None:
    first, second = generate_uid(), generate_uid()
    write_series(tmp_path / "a", 4, first)
    write_series(tmp_path / "b", 3, second, lambda _, ds: setattr(ds, "PatientWeight", "90"))
    _, out = run(capsys, tmp_path)
    blocks = [line for line in out.splitlines() if line.startswith("series ")]
    assert blocks == [f"series {first}", f"series {second}"]
    assert "instances   4, 4 with SUV" in out and "instances   3, 3 with SUV" in out
    assert f"{expected_factor(90, 300e6, 3600):.6g}" in out


def test_unconvertible_instances_are_counted_with_their_reason(tmp_path, capsys) -> None:
    def change(i: int, ds: Dataset) -> None:
        if i in (3, 7):
            ds.DecayCorrection = "ADMIN"
        if i == 11:
            ds.PatientWeight = "80"

    write_series(tmp_path / "pet", 30, change=change)
    (tmp_path / "pet" / "notes.txt").write_text("not DICOM")
    status, out = run(capsys, tmp_path / "pet")
    assert status == 0
    assert "instances   30, 28 with SUV" in out
    assert out.count("DecayCorrection is ADMIN, not START") == 1
    assert "no SUV      2 instance(s): DecayCorrection is ADMIN, not START" in out
    assert "1 of 28 instances differ" in out and f"median {FACTOR:.6g}" in out
    assert "not all instances agree on decay_correction, weight_kg" in out
    assert "skipped 1 file(s) that are not DICOM" in out and "notes.txt" in out


def test_series_time_after_the_acquisition_names_the_acquisition_time(tmp_path, capsys) -> None:
    write_series(tmp_path / "pet", 5, change=lambda _, ds: setattr(ds, "SeriesTime", "110000"))
    _, out = run(capsys, tmp_path / "pet")
    assert "reference   2024-03-15 10:00:00 (earliest acquisition time" in out
    assert "uptake      60.0 min" in out


def test_json_has_one_object_per_series(tmp_path, capsys) -> None:
    write_series(tmp_path / "a", 30)
    write_series(tmp_path / "b", 2, change=lambda _, ds: setattr(ds, "Units", "PROPCNTS"))
    status, out = run(capsys, tmp_path, as_json=True)
    report = json.loads(out)
    assert status == 0 and report["skipped_files"] == 0
    first, second = report["series"]
    assert first["instances"] == 30 and first["convertible"] == 30
    assert "per_instance" not in first
    assert first["inputs"]["weight_kg"] == 75 and first["inputs"]["dose_mbq"] == 300
    assert first["inputs"]["reference"] == "series time"
    assert first["inputs"]["uptake_min"] == pytest.approx(60)
    assert first["suvbw"]["median"] == pytest.approx(FACTOR, rel=1e-9)
    assert first["suvbw"]["differing"] == 0
    assert second["suvbw"] is None and second["failures"] == [
        {"reason": "Units PROPCNTS is not BQML, CNTS or GML", "instances": 2}]
    _, out = run(capsys, tmp_path, as_json=True, per_instance=True)
    detailed = json.loads(out)["series"]
    assert [len(s["per_instance"]) for s in detailed] == [30, 2]
    assert detailed[0]["per_instance"][0]["suvbw"] == pytest.approx(FACTOR, rel=1e-9)


def test_the_command_line_takes_per_instance_and_folders(tmp_path) -> None:
    write_series(tmp_path / "pet", 3)
    summary = cli("suv", str(tmp_path))
    assert summary.returncode == 0, summary.stderr
    assert sum(line.startswith("series ") for line in summary.stdout.splitlines()) == 1
    detail = cli("suv", "--per-instance", str(tmp_path))
    assert detail.returncode == 0, detail.stderr
    assert detail.stdout.count("SUVbw factor") == 3
    nothing = cli("suv", str(tmp_path / "pet" / "000.dcm.missing"))
    assert nothing.returncode == 1 and "no files found" in nothing.stderr
