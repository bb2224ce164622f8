"""The verified report: the automatic SR signed off by a reader, as PS3.3 C.17.2 asks."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import pydicom
import pytest

from seganypet_node.imaging.volume import load_input
from seganypet_node.outputs.dicom_results import ObjectKind, write_dicom_results
from seganypet_node.outputs.verified import Verifier, verified_report, write_verified_report
from seganypet_node.review.verify import person_name
from tests.unit.test_dicom_outputs import DCMQI_SR, MODEL, dciodvfy_errors, truth_result

NOW = dt.datetime(2026, 12, 3, 14, 30, tzinfo=dt.UTC)
READER = Verifier("Reader^Alice^^Dr", "Nuclear Medicine, St Elsewhere")


@pytest.fixture(scope="module")
def results(make_phantom, tmp_path_factory):
    study = make_phantom(41, matrix=96, slices=260, lesions=2)
    volume = load_input([study.dicom_dir])
    out = tmp_path_factory.mktemp("verified")
    write_dicom_results(truth_result(study, volume), volume, out, MODEL, "SEGANYPET")
    return out


def test_the_verified_report_is_a_new_instance_of_the_sr_series_naming_its_predecessor(
        results) -> None:
    automatic = pydicom.dcmread(results / "dicom" / "sr.dcm")
    assert automatic.VerificationFlag == "UNVERIFIED"
    verified = write_verified_report(results, READER, NOW)
    report = pydicom.dcmread(verified.path)
    assert verified.kind is ObjectKind.SR and verified.path.name == "sr_verified.dcm"
    assert report.SOPInstanceUID == verified.sop_instance_uid != automatic.SOPInstanceUID
    assert report.file_meta.MediaStorageSOPInstanceUID == report.SOPInstanceUID
    assert report.SeriesInstanceUID == automatic.SeriesInstanceUID
    assert report.StudyInstanceUID == automatic.StudyInstanceUID
    assert report.InstanceNumber == automatic.InstanceNumber + 1
    assert (report.VerificationFlag, report.CompletionFlag) == ("VERIFIED", "COMPLETE")
    observer = report.VerifyingObserverSequence[0]
    assert observer.VerifyingObserverName == "Reader^Alice^^Dr"
    assert observer.VerifyingOrganization == READER.organisation
    assert observer.VerificationDateTime.startswith(
        NOW.astimezone().strftime("%Y%m%d%H%M"))
    predecessor = report.PredecessorDocumentsSequence[0]
    assert predecessor.StudyInstanceUID == automatic.StudyInstanceUID
    series = predecessor.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == automatic.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == \
        automatic.SOPInstanceUID
    assert report.ContentSequence == automatic.ContentSequence  # the same measurements


def test_the_verified_report_is_valid_for_dciodvfy_and_dcmqi(results, tmp_path) -> None:
    verified = write_verified_report(results, READER, NOW)
    if shutil.which("dciodvfy") is None:
        pytest.skip("dicom3tools not installed (apt-get install dicom3tools)")
    assert dciodvfy_errors(verified.path) == []
    if DCMQI_SR is None:
        pytest.skip("dcmqi not installed (pip install dcmqi)")
    out = tmp_path / "sr.json"
    subprocess.run([DCMQI_SR, "--inputDICOM", str(verified.path), "--outputMetadata",
                    str(out)], check=True, capture_output=True)
    read = json.loads(out.read_text())
    automatic = pydicom.dcmread(results / "dicom" / "sr.dcm")
    assert (read["VerificationFlag"], read["CompletionFlag"]) == ("VERIFIED", "COMPLETE")
    assert read["InstanceNumber"] == str(automatic.InstanceNumber + 1)
    assert len(read["Measurements"]) > 10  # every group read back


def test_only_an_sr_can_be_verified(results) -> None:
    seg = pydicom.dcmread(results / "dicom" / "seg.dcm", stop_before_pixels=True)
    with pytest.raises(ValueError, match="only a structured report"):
        verified_report(seg, READER, NOW)


@pytest.mark.parametrize(("shown", "dicom"), [
    ("Dr Alice Reader", "Reader^Alice^^Dr"), ("Alice M Reader", "Reader^Alice M"),
    ("Reader", "Reader"), ("Prof. Bo Li", "Li^Bo^^Prof.")])
def test_a_display_name_becomes_a_person_name(shown, dicom) -> None:
    assert person_name(shown) == dicom
