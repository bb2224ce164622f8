"""The reader in the loop, end to end: a physician reviews a study in headless Chromium,
rejects a lesion, adds the one the run missed with one click, fixes an organ with one
negative click, and verifies; the corrected SEG, the VERIFIED SR and the key image reach the
PACS (Orthanc), dcmqi reads them, and the audit log has every step.

Orthanc routes a phantom PET series with three lesions to the node (`[review]
require_verification = true`, so only what the reader verified is sent). The corrections are
worked out from the phantom's ground truth, as a reader would see them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from seganypet_node.db.jobs import job_results_dir
from seganypet_node.imaging.pet import read_pet_series
from seganypet_node.imaging.volume import from_pet_series
from seganypet_node.organs import organ
from tests.peers import RESULT_MODALITIES, OrthancPeer
from tests.review_support import PASSWORD, USER, drive_browser, start_gated_node
from tests.support import NODE_AE, cli, free_port, storescu, wait_for
from tests.unit.test_dicom_outputs import DCMQI_SEG, DCMQI_SR, dciodvfy_errors

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures(
    "dcmtk", "headless_chromium")]
LESION_LABELS = 101  # the phantom's lesion labels start here
FIXED_ORGANS = ("aorta", "lung_left", "lung_right", "heart", "liver", "spleen",
                "kidney_left", "kidney_right", "urinary_bladder")


@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(4242, matrix=168, slices=300, lesions=3)


def mask_of(folder: Path, name: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "masks" / f"{name}.nii.gz"))) > 0


def corrections(folder: Path, truth: np.ndarray, values: np.ndarray) -> dict:
    """What a reader would correct: the automatic lesion with least true lesion in it, a
    true lesion no automatic lesion touches (its hottest voxel), and the organ with the
    largest excess (the deepest voxel of it)."""
    summary = json.loads((folder / "summary.json").read_text())
    lesions = summary["lesions"]["lesions"]
    assert lesions, "the run found no lesion to reject"
    cover = [float((truth[mask_of(folder, x["label"])] >= LESION_LABELS).mean()) for x in lesions]
    reject = int(np.argmin(cover))
    found = np.zeros(truth.shape, bool)
    for x in lesions:
        found |= mask_of(folder, x["label"])
    missed = [label for label in np.unique(truth[truth >= LESION_LABELS])
              if not (found & (truth == label)).any()]
    assert missed, "the run found every lesion: nothing for the reader to add"
    inside = np.where(truth == missed[0], values, -np.inf)
    lesion_at = np.unravel_index(int(np.argmax(inside)), truth.shape)
    best = None
    for name in FIXED_ORGANS:
        if not summary["organs"][name]["found"]:
            continue
        excess = mask_of(folder, name) & (truth != organ(name).label)
        parts, count = ndimage.label(excess)
        if not count:
            continue
        largest = parts == 1 + int(np.argmax(np.bincount(parts.ravel())[1:]))
        if best is None or largest.sum() > best[1].sum():
            best = (name, largest)
    assert best is not None
    depth = ndimage.distance_transform_edt(best[1])
    excess_at = np.unravel_index(int(np.argmax(depth)), truth.shape)
    return {"reject": f"lesion_{reject + 1}", "reject_uid": lesions[reject]["tracking_uid"],
            "missed_lesion_zyx": [int(v) for v in lesion_at], "missed_label": int(missed[0]),
            "organ": best[0], "organ_excess_zyx": [int(v) for v in excess_at],
            "excess_voxels": int(best[1].sum())}


def test_a_reader_corrects_and_verifies_and_the_pacs_gets_it(netns, start_node, study,
                                                             tmp_path) -> None:
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    node_port, review_port = free_port(), free_port()
    orthanc = OrthancPeer(tmp_path / "orthanc", netns.enter(), (NODE_AE, node_port))
    shots = tmp_path / "shots"
    try:
        orthanc.start()
        node = start_gated_node(start_node, orthanc, node_port, review_port)
        sent = storescu(orthanc.dicom_port, study.dicom_dir, calling="MODALITY",
                        called=orthanc.ae_title, prefix=orthanc.prefix)
        assert sent.returncode == 0, sent.stderr[-2000:]
        job = node.wait_for_jobs({"done", "failed"}, timeout_s=300)[0]
        assert job.state.value == "done", job.last_error
        folder = job_results_dir(node.data_dir / "results", job.id)
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(study.labels_path)))
        values = sitk.GetArrayFromImage(from_pet_series(read_pet_series(study.files)).values)
        plan = {"url": f"http://127.0.0.1:{review_port}", "user": USER, "password": PASSWORD,
                "job_id": job.id, **corrections(folder, truth, values)}
        result = drive_browser(netns.enter(), "review_drive", plan, tmp_path, shots, 600)
        assert "error" not in result, (result.get("error"), result["steps"],
                                       result.get("page_text"))
        wait_for(lambda: set(orthanc.series_by_modality()) >= RESULT_MODALITIES, 120,
                 "corrected SEG, SR and key image in Orthanc", node.log)
        by_modality = orthanc.series_by_modality()
        sr_tags = orthanc.get(
            f"/instances/{by_modality['SR'][0]['Instances'][0]}/simplified-tags")
    finally:
        orthanc.stop()
    assert result["reject_status"].startswith("reject")
    assert result["add_status"].startswith("add lesion")
    assert "removed" in result["negative_status"] and " 0 voxel" not in result["negative_status"]
    assert result["verify_status"].startswith("verified with your corrections: 3 transfer")

    corrected = folder / "corrected"
    summary = json.loads((corrected / "summary.json").read_text())
    uids = [x["tracking_uid"] for x in summary["lesions"]["lesions"]]
    assert plan["reject_uid"] not in uids
    added_at = tuple(plan["missed_lesion_zyx"])
    assert any(mask_of(corrected, x["label"])[added_at] for x in summary["lesions"]["lesions"])
    # The negative click took the organ's largest excess away, and the figures follow.
    name = plan["organ"]
    label = organ(name).label
    before, after = mask_of(folder, name), mask_of(corrected, name)
    assert not after[tuple(plan["organ_excess_zyx"])]
    assert (after & (truth != label)).sum() < (before & (truth != label)).sum()
    assert summary["organs"][name]["volume_ml"] != json.loads(
        (folder / "summary.json").read_text())["organs"][name]["volume_ml"]

    automatic = pydicom.dcmread(folder / "dicom" / "sr.dcm", stop_before_pixels=True)
    assert sr_tags["VerificationFlag"] == "VERIFIED" and sr_tags["CompletionFlag"] == "COMPLETE"
    assert sr_tags["VerifyingObserverSequence"][0]["VerifyingObserverName"] == \
        "Reader^Alice^^Dr"
    predecessor = sr_tags["PredecessorDocumentsSequence"][0]["ReferencedSeriesSequence"][0]
    assert predecessor["ReferencedSOPSequence"][0]["ReferencedSOPInstanceUID"] == \
        automatic.SOPInstanceUID
    assert sr_tags["SeriesInstanceUID"] != automatic.SeriesInstanceUID  # a new series
    for kind in ("seg", "sr"):
        assert dciodvfy_errors(corrected / "dicom" / f"{kind}.dcm") == [], kind
    if DCMQI_SEG is not None and DCMQI_SR is not None:
        out = tmp_path / "dcmqi"
        out.mkdir()
        subprocess.run([DCMQI_SEG, "--inputDICOM", str(corrected / "dicom" / "seg.dcm"),
                        "--outputDirectory", str(out), "--outputType", "nifti"],
                       check=True, capture_output=True)
        meta = json.loads((out / "meta.json").read_text())
        labels = {a[0]["TrackingIdentifier"] for a in meta["segmentAttributes"]}
        assert {x["label"] for x in summary["lesions"]["lesions"]} <= labels
        subprocess.run([DCMQI_SR, "--inputDICOM", str(corrected / "dicom" / "sr.dcm"),
                        "--outputMetadata", str(out / "sr.json")], check=True,
                       capture_output=True)
        groups = json.loads((out / "sr.json").read_text())["Measurements"]
        assert {x["tracking_uid"] for x in summary["lesions"]["lesions"]} <= {
            g.get("TrackingUniqueIdentifier") for g in groups}

    audit = cli("--config", str(node.config_path), "audit", "--job", str(job.id), "--json")
    actions = [row["action"] for row in json.loads(audit.stdout)]
    for action in ("review_opened", "finding_rejected", "lesion_added", "corrective_click",
                   "results_verified"):
        assert action in actions, (action, actions)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":  # as test_viewer.py
        docs = Path(__file__).resolve().parents[2] / "docs"
        shutil.copy(shots / "review_page.png", docs / "review_page.png")
