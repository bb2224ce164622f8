"""``seganypet-node segment`` and ``atlas build`` as a researcher runs them on files."""

from __future__ import annotations

import json

import pydicom
import pytest
import SimpleITK as sitk

from seganypet_node.atlas.assets import load_atlas
from tests.support import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_segment_a_dicom_folder_writes_masks_summary_and_shows_progress(
        make_phantom, tmp_path) -> None:
    study = make_phantom(21, matrix=128, slices=300)
    out = tmp_path / "out"
    result = cli("segment", str(study.dicom_dir), "--out", str(out),
                 "--organs", "liver,kidney_right,brain", timeout_s=300)
    assert result.returncode == 0, result.stderr
    assert "3/3" in result.stderr and "#" * 30 in result.stderr  # the progress bar
    assert "liver" in result.stdout and "SUVbw" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["organs"]) == ["liver", "kidney_right", "brain"]
    assert summary["source"]["series_instance_uid"] == study.identity.series_uid
    for name in ("liver", "kidney_right", "brain"):
        assert summary["organs"][name]["found"]
        mask = sitk.ReadImage(str(out / "masks" / f"{name}.nii.gz"))
        assert mask.GetSize() == sitk.ReadImage(str(study.labels_path)).GetSize()
    assert "registration and prompts" in summary["timings_s"]
    assert {"writing seg", "writing sr", "writing key_image"} <= set(summary["timings_s"])
    assert summary["source"]["dicom"] == {"seg": "dicom/seg.dcm", "sr": "dicom/sr.dcm",
                                          "key_image": "dicom/key_image.dcm"}
    seg = pydicom.dcmread(tmp_path / "out" / "dicom" / "seg.dcm", stop_before_pixels=True)
    assert seg.StudyInstanceUID == study.identity.study_uid
    assert "DICOM SEG, SR and key image" in result.stdout
    assert "lesions: " in result.stdout and "threshold" in result.stdout  # assessed, and how
    assert "copy attributes of module" not in result.stderr  # no library chatter at INFO


def test_segment_refuses_bad_input_and_bad_organs_by_name(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    empty = cli("segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert empty.returncode == 1 and "no files found" in empty.stderr
    organs = cli("segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                 "--organs", "liver,pancreas")
    assert organs.returncode == 2 and "[pipeline] organs" in organs.stderr


def test_atlas_build_from_case_folders_makes_a_usable_atlas(make_phantom, tmp_path) -> None:
    cases = [make_phantom(seed, matrix=112, slices=380).dicom_dir.parent for seed in (31, 32)]
    out = tmp_path / "atlas"
    result = cli("atlas", "build", *map(str, cases), "--out", str(out),
                 "--description", "two test cases", timeout_s=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registered (2/2" in result.stdout
    atlas = load_atlas(out)
    assert atlas.meta["description"] == "two test cases"
    assert {"liver", "brain", "kidney_left", "aorta"} <= set(atlas.landmarks)
    # Each case is kept as an atlas subject, with every landmark placed inside its organ in
    # that case's own labels.
    assert [s.name for s in atlas.subjects] == [c.name for c in cases]
    for case, subject in zip(cases, atlas.subjects, strict=True):
        labels = sitk.ReadImage(str(case / "labels.nii.gz"))
        names = {int(k): v for k, v in json.loads((case / "labels.json").read_text()).items()}
        for organ in ("liver", "kidney_left", "heart", "aorta"):
            for point in subject.landmarks[organ].positives:
                assert names.get(int(labels[labels.TransformPhysicalPointToIndex(point)])) == organ
    missing = cli("atlas", "build", str(tmp_path), "--out", str(tmp_path / "x"))
    assert missing.returncode == 1 and "is missing" in missing.stderr
