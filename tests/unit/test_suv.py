"""SUVbw and SUL by the QIBA vendor-neutral rules, on real headers from several vendors."""

from __future__ import annotations

import copy
import json

import pydicom
import pytest
from pydicom.dataset import Dataset

from seganypet_node.imaging.suv import acquisition_datetime, lean_body_mass_kg, suv_scale
from tests.support import cli

HALF_LIFE_F18 = 6586.2


def expected_factor(weight_kg: float, dose_bq: float, elapsed_s: float) -> float:
    """By hand: weight in g over the dose decayed to the scan start."""
    return weight_kg * 1000.0 / (dose_bq * 2.0 ** (-elapsed_s / HALF_LIFE_F18))


@pytest.fixture(scope="module")
def real(shared_data):
    folder = shared_data / "real_pet_slices"

    def read(name: str) -> Dataset:
        return pydicom.dcmread(folder / name, stop_before_pixels=True)

    return read


@pytest.fixture
def siemens(real) -> Dataset:
    """Siemens Biograph mCT, BQML: 290 MBq at 10:00:00, series 11:12:18, 82 kg."""
    return copy.deepcopy(real("2020-11-16-SalimKanounAnonymization.dcm"))


def scale_of(ds: Dataset):
    time = acquisition_datetime(ds)
    return suv_scale(ds, [time] if time else [])


def test_siemens_bqml_uses_the_series_time(siemens) -> None:
    scale = scale_of(siemens)
    elapsed = (11 * 3600 + 12 * 60 + 18) - 10 * 3600
    assert scale.suvbw == pytest.approx(expected_factor(82, 290e6, elapsed), rel=1e-9)
    assert scale.bqml == 1.0 and "series time" in scale.rule


@pytest.mark.parametrize("name, weight, dose, elapsed", [
    # TCIA ACRIN-FLT-Breast (FLT, no manufacturer): StartTime only, on the series date.
    ("ACRIN-FLT-Breast_suyashkumar_1.dcm", 69.7344, 178340011.59668,
     (15 * 3600 + 23 * 60 + 16.921) - (14 * 3600 + 17 * 60)),
    ("ACRIN-FLT-Breast_suyashkumar_2.dcm", 82.174, 173529998.7793,
     (11 * 3600 + 19 * 60 + 59.109) - (11 * 3600 + 19 * 60 + 59)),
])
def test_tcia_headers(real, name, weight, dose, elapsed) -> None:
    assert scale_of(real(name)).suvbw == pytest.approx(
        expected_factor(weight, dose, elapsed), rel=1e-9)


@pytest.mark.parametrize("name, reason", [
    ("2021-02-19-MalaterreCP246.dcm", "PatientWeight"),  # weight 0 in the header
    ("Issue94.dcm", "PatientWeight"),  # Philips GEMINI TF without weight
    ("Comunix/Pet/IM-0001-0001.dcm", "PatientWeight"),
])
def test_headers_without_weight_say_why(real, name, reason) -> None:
    scale = scale_of(real(name))
    assert scale.suvbw is None and reason in (scale.reason or "")
    assert scale.bqml == 1.0  # still measured in Bq/ml


def test_series_time_after_the_acquisition_uses_the_earliest_acquisition(siemens) -> None:
    siemens.SeriesTime = "120000"  # re-created series, later than the acquisition (11:16:24)
    scale = scale_of(siemens)
    elapsed = (11 * 3600 + 16 * 60 + 24) - 10 * 3600
    assert scale.suvbw == pytest.approx(expected_factor(82, 290e6, elapsed), rel=1e-9)
    assert "earliest acquisition" in scale.rule


def test_ge_private_scan_time_wins_when_the_series_time_is_late(siemens) -> None:
    siemens.SeriesTime = "120000"
    block = siemens.private_block(0x0009, "GEMS_PETD_01", create=True)
    block.add_new(0x0D, "DT", "20191113110500")
    scale = scale_of(siemens)
    elapsed = (11 * 3600 + 5 * 60) - 10 * 3600
    assert scale.suvbw == pytest.approx(expected_factor(82, 290e6, elapsed), rel=1e-9)
    assert "GE private" in scale.rule


def test_injection_before_midnight_scan_after(siemens) -> None:
    item = siemens.RadiopharmaceuticalInformationSequence[0]
    del item.RadiopharmaceuticalStartDateTime
    item.RadiopharmaceuticalStartTime = "233000"
    siemens.SeriesTime = siemens.AcquisitionTime = "003000"
    scale = scale_of(siemens)
    assert scale.suvbw == pytest.approx(expected_factor(82, 290e6, 3600), rel=1e-9)


def test_philips_cnts_private_suv_factor(siemens) -> None:
    siemens.Units = "CNTS"
    block = siemens.private_block(0x7053, "Philips PET Private Group", create=True)
    block.add_new(0x00, "DS", "0.000512")
    block.add_new(0x09, "DS", "1.7")
    scale = scale_of(siemens)
    assert scale.suvbw == pytest.approx(0.000512) and "(7053,1000)" in scale.rule
    assert scale.bqml == pytest.approx(1.7)


def test_philips_cnts_activity_factor_then_bqml_rule(siemens) -> None:
    siemens.Units = "CNTS"
    block = siemens.private_block(0x7053, "Philips PET Private Group", create=True)
    block.add_new(0x09, "DS", "1.7")
    elapsed = (11 * 3600 + 12 * 60 + 18) - 10 * 3600
    assert scale_of(siemens).suvbw == pytest.approx(
        1.7 * expected_factor(82, 290e6, elapsed), rel=1e-9)


def test_cnts_without_philips_factors_has_no_suv(siemens) -> None:
    siemens.Units = "CNTS"
    scale = scale_of(siemens)
    assert scale.suvbw is None and "7053" in (scale.reason or "")


def test_gml_is_suv_already(siemens) -> None:
    siemens.Units = "GML"
    assert scale_of(siemens).suvbw == 1.0


@pytest.mark.parametrize("change, reason", [
    (lambda ds: setattr(ds, "CorrectedImage", ["NORM", "DECY"]), "ATTN"),
    (lambda ds: setattr(ds, "DecayCorrection", "ADMIN"), "ADMIN"),
    (lambda ds: setattr(ds, "Units", "PROPCNTS"), "PROPCNTS"),
    (lambda ds: delattr(ds, "RadiopharmaceuticalInformationSequence"), "Radiopharmaceutical"),
])
def test_unusable_headers_say_why(siemens, change, reason) -> None:
    change(siemens)
    scale = scale_of(siemens)
    assert scale.suvbw is None and reason in (scale.reason or "")


def test_sul_uses_janmahasatian_lean_body_mass(siemens) -> None:
    siemens.PatientSize = "1.65"  # the header is female, 82 kg
    lbm = 9270 * 82 / (8780 + 244 * 82 / 1.65**2)
    assert lean_body_mass_kg(siemens) == pytest.approx(lbm)
    scale = scale_of(siemens)
    assert scale.sul == pytest.approx(scale.suvbw * lbm / 82)


def test_suv_command_prints_factor_rule_and_reasons(shared_data) -> None:
    folder = shared_data / "real_pet_slices"
    done = cli("suv", str(folder / "2020-11-16-SalimKanounAnonymization.dcm"),
               str(folder / "Issue94.dcm"), str(folder / "Comunix" / "Ct"))
    assert done.returncode == 0, done.stderr
    assert "SUVbw       0.000446364" in done.stdout and "dose decayed" in done.stdout
    assert "no SUV      1 instance(s): PatientWeight is missing" in done.stdout
    assert "2 instance(s): Modality is CT" in done.stdout
    assert "weight 82 kg" in done.stdout and "(series time)" in done.stdout
    detail = cli("suv", "--per-instance", str(folder / "2020-11-16-SalimKanounAnonymization.dcm"))
    assert "SUVbw factor 0.000446364" in detail.stdout
    machine = json.loads(cli("suv", "--json", "--per-instance",
                             str(folder / "ACRIN-FLT-Breast_suyashkumar_1.dcm")).stdout)
    instance = machine["series"][0]["per_instance"][0]
    assert instance["units"] == "BQML" and instance["suvbw"] > 0
    assert instance["rescale_slope"] == pytest.approx(9.12329)
