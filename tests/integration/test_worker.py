"""Received series are segmented by the node's workers without a human; failures say why."""

from __future__ import annotations

import json
import shutil

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from seganypet_node.organs import BY_NAME
from tests.support import cli, storescu

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


@pytest.fixture(scope="module")
def whole_body(make_phantom):
    """A vertex-to-thigh study wide enough for the arms (128 x 128 at 4 mm)."""
    return make_phantom(21, matrix=128, slices=300)


def test_complete_series_is_segmented_and_results_recorded(start_node, whole_body) -> None:
    node = start_node(worker={"count": 1, "poll_interval_s": 0.2})
    assert storescu(node.port, whole_body.dicom_dir).returncode == 0
    jobs = node.wait_for_jobs({"done", "failed"})
    assert jobs[0].state.value == "done", jobs[0].last_error
    assert jobs[0].attempts == 1
    out = node.job_results(jobs[0].id)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"]["series_instance_uid"] == whole_body.identity.series_uid
    assert summary["unit"] == "SUVbw"
    stages = list(summary["timings_s"])
    assert stages[:2] == ["read series", "load model and atlas"]
    assert stages[-3:] == ["writing seg", "writing sr", "writing key_image"]
    labels = sitk.ReadImage(str(whole_body.labels_path))
    found = [name for name, entry in summary["organs"].items() if entry["found"]]
    assert len(found) >= 9, summary["organs"]
    liver = sitk.ReadImage(str(out / summary["organs"]["liver"]["mask"]))
    assert liver.GetSize() == labels.GetSize()
    truth = sitk.GetArrayFromImage(labels) == BY_NAME["liver"].label
    overlap = (sitk.GetArrayFromImage(liver) > 0) & truth
    assert overlap.sum() > 0.7 * truth.sum()
    assert 1.3 < summary["organs"]["liver"]["mean"] < 3.2
    # The SEG the node sends holds exactly the masks the pipeline wrote, slice by slice.
    seg = hd.seg.segread(out / "dicom" / "seg.dcm")
    numbers = {str(d.TrackingID): int(d.SegmentNumber) for d in seg.SegmentSequence}
    lesions = [entry["label"] for entry in summary["lesions"]["lesions"]]
    assert summary["lesions"]["assessed"]
    assert set(numbers) == {*found, *lesions, "PERCIST liver reference", "blood pool reference"}
    # Volume slice 0 is the lowest along the slice normal (feet first for axial PET).
    sources = sorted(whole_body.files, key=lambda f: float(
        pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in sources]
    pixels = seg.get_pixels_by_source_instance(uids, segment_numbers=[numbers["liver"]])
    liver_mask = sitk.GetArrayFromImage(liver) > 0
    assert np.array_equal(pixels[..., 0] > 0, liver_mask)
    pool = sitk.ReadImage(str(out / "masks" / "blood_pool_reference.nii.gz"))
    pixels = seg.get_pixels_by_source_instance(
        uids, segment_numbers=[numbers["blood pool reference"]])
    assert np.array_equal(pixels[..., 0] > 0, sitk.GetArrayFromImage(pool) > 0)
    log = node.log()
    assert f"job {jobs[0].id}: done" in log
    assert whole_body.identity.patient_name not in log  # no patient data at INFO
    assert whole_body.identity.patient_id not in log


def test_unusable_series_fails_once_with_its_reason_and_can_be_retried(
        start_node, whole_body, tmp_path) -> None:
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for number, path in enumerate(sorted(whole_body.files)):
        if number != 150:
            shutil.copy(path, gappy / path.name)
    node = start_node(worker={"count": 1, "poll_interval_s": 0.2},
                      completion={"quiet_period_s": 1, "sweep_interval_s": 0.2})
    assert storescu(node.port, gappy).returncode == 0
    jobs = node.wait_for_jobs({"failed"})
    assert jobs[0].attempts == 1  # the series itself is unusable: no pointless retries
    assert "slice(s) missing" in (jobs[0].last_error or "")
    listing = cli("--config", str(node.config_path), "jobs")
    assert "failed" in listing.stdout and "missing" in listing.stdout
    retried = cli("--config", str(node.config_path), "jobs", "--retry", str(jobs[0].id))
    assert retried.returncode == 0
    jobs = node.wait_for_jobs({"failed"})
    assert jobs[0].attempts == 2
