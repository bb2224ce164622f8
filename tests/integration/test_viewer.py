"""Viewers show what the node returns: OHIF in headless Chromium, and dcmjs as OHIF reads a SEG.

The browser test runs the whole chain in a private network namespace: a modality sends a PET
series to Orthanc (DICOMweb plugin on), Orthanc routes it to the node, the node returns SEG, SR
and key image to Orthanc, and OHIF (the built viewer of the pinned ``@ohif/app``, served next to
Orthanc's DICOMweb root) opens the study in headless Chromium. What is judged comes from the page:
OHIF's segmentation state and panel, and screenshots read at the points where OHIF's own camera
says it drew organ centres and points outside the body.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from seganypet_node.organs import ORGANS, display_label
from tests.peers import DICOMWEB_PLUGIN, OrthancPeer, route_study_through
from tests.support import (
    NODE_AE,
    cli,
    free_port,
    stop_process,
)
from tests.viewer.judge import (
    OVERLAY_SHOWN,
    SAME_PIXEL,
    displayed_agreement,
    explaining_segment,
    load_screenshot,
    pixel,
)
from tests.viewer.masks import node_segment_masks
from tests.viewer.plan import make_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORGAN_LABELS = [display_label(organ.name) for organ in ORGANS]  # the SEG's SegmentLabels
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS = "UPDATE_DOCS_SCREENSHOTS"  # set to 1 to rewrite the pictures in docs/


@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(31, matrix=128, slices=300, lesions=3)


def judge_segment_labels(labels: list[str]) -> None:
    """Organs first in catalogue order, then the lesions, then the two reference regions."""
    assert labels[:len(ORGAN_LABELS)] == ORGAN_LABELS
    rest = labels[len(ORGAN_LABELS):]
    lesions = [label for label in rest if label.startswith("lesion ")]
    assert lesions, rest  # the phantom's lesions are segments of their own
    assert [label.split(" (")[0] for label in rest[len(lesions):]] == [
        "PERCIST liver reference", "blood pool reference"], rest


def test_dcmjs_reads_the_seg_into_the_masks_the_node_wrote(dcmjs, study, tmp_path) -> None:
    out = tmp_path / "out"
    result = cli("segment", str(study.dicom_dir), "--out", str(out), timeout_s=300)
    assert result.returncode == 0, result.stderr
    pets = sorted(study.dicom_dir.iterdir())  # the stack: any order, the same on both sides
    read = subprocess.run(["node", str(dcmjs), str(out / "dicom" / "seg.dcm"),
                           str(tmp_path / "labelmap"), *map(str, pets)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert read.returncode == 0, read.stderr[-2000:]
    summary = json.loads((tmp_path / "labelmap.json").read_text())
    labels = {int(number): label for number, label in summary["segments"].items()}
    judge_segment_labels(list(labels.values()))
    assert summary["warnings"] == []
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in pets]
    expected = node_segment_masks(out / "masks", headers, labels)
    assert all(mask.any() for mask in expected.values())  # every segment is on some slice
    shape = next(iter(expected.values())).shape
    for way in ("reference", "position"):  # frames placed by their source image, then by IPP
        layers = [np.fromfile(path, "<u2").reshape(shape)
                  for path in sorted(tmp_path.glob(f"labelmap.{way}.*.u16"))]
        assert layers, way
        for number, mask in expected.items():
            read_back = np.logical_or.reduce([layer == number for layer in layers])
            wrong = read_back != mask
            assert not wrong.any(), f"{way}, {labels[number]}: {int(wrong.sum())} voxels differ"


@pytest.mark.usefixtures("dcmtk", "headless_chromium")
def test_ohif_shows_the_seg_over_the_pet_and_the_key_image(
        netns, start_node, study, ohif_dist, tmp_path) -> None:
    if shutil.which("Orthanc") is None or not Path(DICOMWEB_PLUGIN).is_file():
        pytest.skip("Orthanc or its DICOMweb plugin missing: apt-get install orthanc-dicomweb")
    node_port, site_port = free_port(), free_port()
    orthanc = OrthancPeer(tmp_path / "orthanc", netns.enter(), (NODE_AE, node_port),
                          dicomweb=True)
    site = None
    try:
        orthanc.start()
        node, job = route_study_through(orthanc, start_node, node_port, study.dicom_dir)
        site = subprocess.Popen(
            [*netns.enter(), sys.executable, "-m", "tests.viewer.site", "--dist",
             str(ohif_dist), "--port", str(site_port), "--orthanc", str(orthanc.http_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plan = make_plan(sorted(study.dicom_dir.iterdir()), node.job_results(job.id))
        plan_path = tmp_path / "plan.json"
        plan_path.write_text(json.dumps(plan.as_json(f"http://127.0.0.1:{site_port}")))
        shots = tmp_path / "browser"
        drive = subprocess.run(
            [*netns.enter(), sys.executable, "-m", "tests.viewer.drive", str(plan_path),
             str(shots)], capture_output=True, text=True, timeout=480, check=False)
        assert drive.returncode == 0, drive.stderr[-3000:]
        result = json.loads((shots / "result.json").read_text())
    finally:
        stop_process(site)
        orthanc.stop()
    assert "error" not in result, (result["error"], result["console"][-30:])
    judge_series_and_segments(result, plan.descriptions)
    judge_overlay(result, plan, shots)
    judge_key_image(result, plan, shots)
    print("OHIF on opening the SR:", " ".join(result["sr_page"].split()[:12]))
    if os.environ.get(UPDATE_DOCS) == "1":
        save_docs_screenshots(shots)


def judge_series_and_segments(result: dict, descriptions: dict[str, str]) -> None:
    for modality in ("PT", "SEG", "SR", "OT"):
        assert modality in result["series_listed"].split()
    for description in descriptions.values():  # SEG, SR and key image listed in the study
        assert description in result["series_listed"]
    [segmentation] = result["segmentations"]
    assert segmentation["label"] == descriptions["SEG"]
    labels = [s["label"] for s in segmentation["segments"]]
    judge_segment_labels(labels)
    panel = result["segmentation_panel"]
    panel = panel[panel.index("Segmentations"):]
    assert set(ORGAN_LABELS) | {"lesion 1"} <= set(panel.splitlines()), panel


def judge_overlay(result: dict, plan, shots: Path) -> None:
    [segmentation] = result["segmentations"]
    segments = segmentation["segments"]
    number = {s["label"]: s["index"] for s in segments}
    off, on = load_screenshot(shots / result["off"]), load_screenshot(shots / result["on"])
    for probe, off_at, on_at, index in zip(plan.probes, result["points_off"],
                                           result["points_on"], segmentation["at_points"],
                                           strict=True):
        before, after = pixel(off, off_at), pixel(on, on_at)
        change = float(np.linalg.norm(after - before))
        if not probe.organ:
            assert index == 0 and change < SAME_PIXEL, (probe, before, after)
            continue
        label = display_label(probe.organ)
        assert index == number[label], (probe, index)  # OHIF's labelmap has it there
        assert change > OVERLAY_SHOWN, (probe, before, after)  # and it is drawn
        drawn = explaining_segment(before, after, segments)
        print(f"{label}: grey {before.round()} -> {after.round()}, "
              f"drawn in colour {drawn['color'][:3]}")
        own = next(s for s in segments if s["label"] == label)
        assert drawn["color"] == own["color"], (probe, drawn["label"], before, after)


def judge_key_image(result: dict, plan, shots: Path) -> None:
    """OHIF shows the key image (picture and SUV table) as written, not flipped or cut."""
    [image_id] = [i for i in result["key_image_viewport"] if i]
    assert plan.key_image_uid in image_id
    agreement = displayed_agreement(shots / result["key_image"], result["key_image_corners"],
                                    pydicom.dcmread(plan.key_image).pixel_array)
    shown = agreement.pop("as written")
    print(f"key image pixels shown as written: {shown:.2f}, "
          + ", ".join(f"{name} {value:.2f}" for name, value in agreement.items()))
    assert shown > 0.9 and max(agreement.values()) < shown - 0.15, (shown, agreement)


def save_docs_screenshots(shots: Path) -> None:
    """Palette PNGs of a few tens of KB: median cut keeps the PET's greys smooth, octree keeps
    the key image's few saturated legend colours (median cut turns the spleen's purple grey)."""
    from PIL import Image

    for name, target, method in (
            ("pet_seg.png", "ohif_seg.png", Image.Quantize.MEDIANCUT),
            ("key_image.png", "ohif_key_image.png", Image.Quantize.FASTOCTREE)):
        image = Image.open(shots / name).convert("RGB")
        image.quantize(colors=256, method=method, dither=Image.Dither.NONE).save(
            DOCS / target, optimize=True)
