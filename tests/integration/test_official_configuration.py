"""The official SegAnyPET configuration ('vit_b_ori') through the whole automatic pipeline.

Random weights make poor masks, so two tests share the work: ``segment`` runs end to end on an
official-layout checkpoint (the real network, the authors' bias), and the same pipeline with
the network replaced by ``TruthEngine`` shows that its 128^3 crops at 1.5 mm in RAS+, the
windows for organs longer than a crop, the clicks and the pasting back are right.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from seganypet_node.atlas.assets import load_atlas
from seganypet_node.config import resource_dir
from seganypet_node.imaging.volume import load_input
from seganypet_node.lesions.search import LesionOptions
from seganypet_node.model import VIT_B_ORI, build_sam3d_vit_b_ori
from seganypet_node.model.predictor import SegAnyPETPredictor
from seganypet_node.outputs.dicom_results import ObjectKind
from seganypet_node.outputs.folder import write_folder
from seganypet_node.pipeline import (
    DEFAULT_ATLAS_DIR,
    OrganPipeline,
    PipelineOptions,
    RunSource,
    suv_like,
)
from tests.model_doubles import TruthEngine
from tests.support import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Organs whose atlas prompts land inside them on this phantom; the thin aorta is left to the
# accuracy evaluation.
ORGANS = ("brain", "heart", "liver", "spleen", "kidney_left", "kidney_right",
          "urinary_bladder", "lung_left", "lung_right")


@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(21, matrix=128, slices=300)  # the segment CLI test's study


def organ_labels(study) -> tuple[np.ndarray, dict[str, int]]:
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(study.labels_path)))
    names = json.loads((study.labels_path.parent / "labels.json").read_text())
    return labels, {name: int(value) for value, name in names.items()}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_official_geometry_crops_windows_and_pasting(study, tmp_path: Path) -> None:
    volume = load_input([study.dicom_dir])
    engine = TruthEngine(VIT_B_ORI, suv_like(volume), sitk.ReadImage(str(study.labels_path)))
    pipeline = OrganPipeline(SegAnyPETPredictor(engine),
                             load_atlas(resource_dir("models") / DEFAULT_ATLAS_DIR),
                             # The organs' geometry: lesion clicks would add crops.
                             PipelineOptions(organs=ORGANS, atlas_subjects=2,
                                             lesions=LesionOptions(enabled=False)))
    crops_by_organ: dict[str, set[tuple[int, int, int]]] = {}
    marks: list[tuple[str, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage.startswith("segmenting "):
            marks.append((stage.removeprefix("segmenting "), len(engine.embedded)))

    written = write_folder(pipeline.run(volume, progress), volume, tmp_path,
                           RunSource(files=("official",)))
    ends = [start for _, start in marks[1:]] + [len(engine.embedded)]
    for (name, start), end in zip(marks, ends, strict=True):
        crops_by_organ[name] = {grid.key for grid in engine.embedded[start:end]}

    assert engine.embedded and engine.worst_crop_difference < 1e-3
    assert {g.orientation for g in engine.embedded} == {"RAS"}
    labels, values = organ_labels(study)
    spacing = np.array(volume.values.GetSpacing()[::-1])
    for result in written.result.organs:
        truth = labels == values[result.organ]
        assert result.found, f"{result.organ}: {result.reason}"
        score = dice(result.mask.full(), truth)
        assert score > 0.85, f"{result.organ}: dice {score}"
        z, y, x = np.nonzero(truth)
        extent = (np.array([np.ptp(z), np.ptp(y), np.ptp(x)]) + 1) * spacing
        if extent.max() > VIT_B_ORI.crop_size * VIT_B_ORI.spacing_mm:
            assert len(crops_by_organ[result.organ]) > 1, result.organ  # windows were added
    assert any(len(keys) > 1 for keys in crops_by_organ.values())
    kinds = {o.kind for o in written.objects}
    assert kinds == {ObjectKind.SEG, ObjectKind.SR, ObjectKind.KEY_IMAGE}
    seg = hd.seg.segread(tmp_path / "dicom" / "seg.dcm")
    assert {str(d.TrackingID) for d in seg.SegmentSequence} == {*ORGANS,
                                                                 "PERCIST liver reference"}
    assert not written.result.lesions.assessed


def write_official_checkpoint(folder: Path) -> Path:
    """Random weights in the release's layout (a dict with ``model_state_dict``)."""
    folder.mkdir()
    torch.manual_seed(0)
    model = build_sam3d_vit_b_ori()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    path = folder / "seganypet_v1.pth"
    torch.save({"model_state_dict": model.state_dict(), "epoch": 1}, path)
    return path


def test_segment_runs_on_an_official_layout_checkpoint(study, tmp_path: Path) -> None:
    checkpoint = write_official_checkpoint(tmp_path / "models")
    env = {"SEGANYPET_MODEL_CHECKPOINT": str(checkpoint), "SEGANYPET_MODEL_MIRROR_IMAGES": "1",
           "SEGANYPET_PIPELINE_ATLAS_SUBJECTS": "2"}
    described = cli("model", env=env)
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert info["layout"] == "model_state_dict" and info["network"]["name"] == "vit_b_ori"
    assert info["rel_pos_bias"] == "sam_med3d" and info["sha256"] == sha256
    out = tmp_path / "out"
    result = cli("segment", str(study.dicom_dir), "--out", str(out), env=env, timeout_s=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"]["checkpoint"] == "seganypet_v1.pth"
    assert summary["source"]["checkpoint_sha256"] == sha256
    assert len(summary["organs"]) == 10
    for name, organ in summary["organs"].items():
        assert organ["found"] or organ["reason"], name  # a mask, or why not
    assert any(stage.startswith("inference ") for stage in summary["timings_s"])
