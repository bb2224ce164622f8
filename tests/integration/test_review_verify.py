"""Verification as a site runs it: results held until a physician verifies them, then the
SEG, the key image and the VERIFIED SR reach the PACS (Orthanc), and the audit log has it.

Orthanc routes a phantom PET series to the node (`[review] require_verification = true`);
nothing comes back until the test verifies the job through the review service's API.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pydicom
import pytest

from seganypet_node.db.jobs import job_results_dir
from tests.peers import RESULT_MODALITIES, OrthancPeer
from tests.review_support import start_gated_node, verify_in
from tests.support import NODE_AE, free_port, outbound_rows, storescu, wait_for
from tests.unit.test_dicom_outputs import dciodvfy_errors

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(33, matrix=128, slices=300)


def test_held_results_go_to_the_pacs_once_verified(netns, start_node, study, tmp_path) -> None:
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    node_port, review_port = free_port(), free_port()
    orthanc = OrthancPeer(tmp_path / "orthanc", netns.enter(), (NODE_AE, node_port))
    try:
        orthanc.start()
        node = start_gated_node(start_node, orthanc, node_port, review_port)
        sent = storescu(orthanc.dicom_port, study.dicom_dir, calling="MODALITY",
                        called=orthanc.ae_title, prefix=orthanc.prefix)
        assert sent.returncode == 0, sent.stderr[-2000:]
        job = node.wait_for_jobs({"done", "failed"}, timeout_s=240)[0]
        assert job.state.value == "done", job.last_error
        assert outbound_rows(node) == []  # held: nothing queued
        assert "held until a physician verifies them" in node.log()
        assert not set(orthanc.series_by_modality()) & set(RESULT_MODALITIES)

        status, verified = verify_in(orthanc.prefix, review_port, job.id)
        assert status == 200, verified
        assert verified["transfers"] == 3  # SEG, key image, VERIFIED SR
        assert verified["key_image"][:2] == [200, "image/png"]
        assert verified["key_image"][2] == "89504e470d0a1a0a"  # a PNG
        wait_for(lambda: set(orthanc.series_by_modality()) >= RESULT_MODALITIES, 120,
                 "SEG, SR and key image in Orthanc", node.log)
        again = verify_in(orthanc.prefix, review_port, job.id)
        assert again[0] == 409 and "verified already by alice" in again[1]["detail"]
        sr_series = orthanc.series_by_modality()["SR"][0]
        tags = orthanc.get(f"/instances/{sr_series['Instances'][0]}/simplified-tags")
    finally:
        orthanc.stop()
    folder = job_results_dir(node.data_dir / "results", job.id) / "dicom"
    automatic = pydicom.dcmread(folder / "sr.dcm", stop_before_pixels=True)
    assert tags["SOPInstanceUID"] == verified["sop_instance_uid"] != automatic.SOPInstanceUID
    assert tags["VerificationFlag"] == "VERIFIED" and tags["CompletionFlag"] == "COMPLETE"
    assert tags["VerifyingObserverSequence"][0]["VerifyingObserverName"] == "Reader^Alice^^Dr"
    predecessor = tags["PredecessorDocumentsSequence"][0]["ReferencedSeriesSequence"][0]
    assert predecessor["ReferencedSOPSequence"][0]["ReferencedSOPInstanceUID"] == \
        automatic.SOPInstanceUID
    if shutil.which("dciodvfy") is not None:
        assert dciodvfy_errors(folder / "sr_verified.dcm") == []
    audit = subprocess.run(
        [sys.executable, "-m", "seganypet_node", "--config", str(node.config_path), "audit",
         "--job", str(job.id)], capture_output=True, text=True, timeout=60, check=False)
    assert "results_verified" in audit.stdout and "3 transfer(s) queued" in audit.stdout
