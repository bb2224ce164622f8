"""Atlas landmarks, assets, registration and the checks landmarks pass before they are prompts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from seganypet_node.atlas.assets import Atlas, AtlasError, OrganLandmarks, load_atlas
from seganypet_node.atlas.landmarks import landmarks_from_labels
from seganypet_node.atlas.prompts import UPTAKE, check_positive, checked_prompts
from seganypet_node.atlas.register import RegistrationError, register_to_atlas
from seganypet_node.atlas.subjects import mapped_landmarks
from seganypet_node.imaging.volume import as_image
from seganypet_node.organs import BY_NAME


def label_at(labels: sitk.Image, point) -> int:
    index = labels.TransformPhysicalPointToIndex(point)
    return int(labels[index])


def body_images(volume, drop_top_mm: float = 0.0):
    """SUV and labels of a phantom as images; optionally without the top of the field."""
    grid = volume.grid
    keep = volume.suv.shape[0] - int(drop_top_mm / grid.spacing[2])
    suv = as_image(volume.suv[:keep], grid.spacing, grid.origin)
    labels = as_image(volume.labels[:keep], grid.spacing, grid.origin)
    return suv, sitk.Cast(labels, sitk.sitkUInt8)


def test_landmarks_lie_deep_inside_and_long_organs_get_spread_points(body_volume) -> None:
    _, labels = body_images(body_volume)
    marks = landmarks_from_labels(labels)
    assert set(marks) == set(BY_NAME)
    for name, organ_marks in marks.items():
        for point in organ_marks.positives:
            assert label_at(labels, point) == BY_NAME[name].label, name
        for point in organ_marks.negatives:
            assert label_at(labels, point) not in (0, BY_NAME[name].label), name
    assert len(marks["kidney_left"].positives) == 1
    assert len(marks["aorta"].positives) >= 3  # arch to bifurcation: longer than a crop
    assert len(marks["liver"].positives) >= 2


def test_atlas_round_trips_and_a_missing_file_is_named(tmp_path, body_volume) -> None:
    suv, labels = body_images(body_volume)
    marks = {"liver": OrganLandmarks(((1.0, 2.0, 3.0),), ((4.0, 5.0, 6.0),))}
    Atlas(suv, labels, marks, {"description": "test"}).save(tmp_path)
    loaded = load_atlas(tmp_path)
    assert loaded.landmarks == marks and loaded.meta["description"] == "test"
    assert loaded.image.GetSize() == suv.GetSize()
    content = json.loads((tmp_path / "landmarks.json").read_text())
    content["organs"]["pancreas"] = {"positives": [[0, 0, 0]]}
    (tmp_path / "landmarks.json").write_text(json.dumps(content))
    with pytest.raises(AtlasError, match=r"landmarks\.json.*pancreas"):
        load_atlas(tmp_path)
    (tmp_path / "atlas_labels.nii.gz").unlink()
    with pytest.raises(AtlasError, match=r"atlas_labels\.nii\.gz: missing"):
        load_atlas(tmp_path)


def test_partial_coverage_patient_registers_and_landmarks_land_in_their_organs(
        body_volume, default_atlas) -> None:
    """Skull base to thigh: the top 200 mm are cut; organs still get their landmarks."""
    suv, labels = body_images(body_volume, drop_top_mm=200)
    registration = register_to_atlas(default_atlas.image, suv)
    assert registration.body_overlap > 0.8 and registration.seconds < 30
    mapped = mapped_landmarks(default_atlas.landmarks, registration.transform)
    prompts = checked_prompts(mapped, list(BY_NAME), suv)
    for name in ("liver", "kidney_left", "kidney_right", "urinary_bladder", "heart",
                 "lung_right", "spleen"):
        positives = [p.point for p in prompts[name].prompts if p.positive]
        assert positives, f"{name}: {prompts[name].reason}"
        inside = [label_at(labels, p) == BY_NAME[name].label for p in positives]
        assert np.mean(inside) >= 0.5, name


def feet_first(image: sitk.Image) -> sitk.Image:
    """The same voxels on a feet-first grid (rows to the patient's right, slices to the feet),
    as a scanner writes a feet-first supine study: same patient space, other array order."""
    size = image.GetSize()
    reference = sitk.Image(size, image.GetPixelID())
    reference.SetSpacing(image.GetSpacing())
    reference.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
    reference.SetOrigin(image.TransformIndexToPhysicalPoint((size[0] - 1, 0, size[2] - 1)))
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0)


def test_feet_first_patient_registers_and_landmarks_land_in_their_organs(
        body_volume, default_atlas) -> None:
    head_first, _ = body_images(body_volume)
    suv, labels = (feet_first(image) for image in body_images(body_volume))
    # Same patient, other array order: slices and rows run the other way.
    assert np.array_equal(sitk.GetArrayViewFromImage(suv),
                          sitk.GetArrayViewFromImage(head_first)[::-1, :, ::-1])
    registration = register_to_atlas(default_atlas.image, suv)
    assert registration.body_overlap > 0.8
    mapped = mapped_landmarks(default_atlas.landmarks, registration.transform)
    prompts = checked_prompts(mapped, list(BY_NAME), suv)
    for name in ("brain", "liver", "kidney_left", "kidney_right", "urinary_bladder", "heart",
                 "lung_left", "lung_right", "spleen"):
        positives = [p.point for p in prompts[name].prompts if p.positive]
        inside = [label_at(labels, p) == BY_NAME[name].label for p in positives]
        assert positives and np.mean(inside) >= 0.5, name


def test_registration_to_something_else_is_refused(default_atlas) -> None:
    box = np.zeros((120, 60, 60), np.float32)
    box[10:110, 20:40, 5:55] = 1.0  # a slab: no head, no organs
    box[60:64, 28:32, 28:32] = 30.0
    with pytest.raises(RegistrationError, match="registration to the atlas failed"):
        register_to_atlas(default_atlas.image, as_image(box, (4, 4, 4), (0, 0, 0)))


def test_landmark_checks_reject_air_and_outside_and_snap_to_the_kidney(body_volume) -> None:
    suv, labels = body_images(body_volume)
    marks = landmarks_from_labels(labels, ["kidney_left"])
    kidney = marks["kidney_left"].positives[0]
    nudged = (kidney[0] + 4.0, kidney[1], kidney[2] + 4.0)
    snapped = check_positive(nudged, UPTAKE["kidney_left"], suv)
    assert not isinstance(snapped, str)
    values = sitk.GetArrayViewFromImage(suv)
    at = suv.TransformPhysicalPointToIndex(snapped)
    assert values[at[::-1]] >= values[suv.TransformPhysicalPointToIndex(nudged)[::-1]]
    origin = suv.GetOrigin()
    air = (origin[0] + 4.0, origin[1] + 4.0, origin[2] + 400.0)  # corner of the field: air
    assert "outside the body" in check_positive(air, UPTAKE["liver"], suv)
    far = (origin[0], origin[1], origin[2] - 500.0)
    assert "outside the field of view" in check_positive(far, UPTAKE["liver"], suv)
    liver = landmarks_from_labels(labels, ["liver"])["liver"].positives[0]
    assert "implausible uptake" in check_positive(liver, UPTAKE["lung_left"], suv)


def test_a_hot_focus_beside_a_kidney_does_not_take_its_prompt(body_volume) -> None:
    """A 1.7 ml SUV-25 focus 8 mm from the kidney landmark is the hottest voxel within the
    snap radius; the point stays on the kidney (before: it moved onto the node)."""
    suv, labels = body_images(body_volume)
    kidney = landmarks_from_labels(labels, ["kidney_left"])["kidney_left"].positives[0]
    values = sitk.GetArrayFromImage(suv)
    focus_centre = (kidney[0] + 8.0, kidney[1], kidney[2])
    cx, cy, cz = suv.TransformPhysicalPointToIndex(focus_centre)
    values[cz - 1:cz + 2, cy - 1:cy + 2, cx - 1:cx + 2] = 25.0  # 27 voxels of 64 ul
    hot = sitk.GetImageFromArray(values)
    hot.CopyInformation(suv)
    snapped = check_positive(kidney, UPTAKE["kidney_left"], hot)
    assert not isinstance(snapped, str)
    at = hot.TransformPhysicalPointToIndex(snapped)
    assert label_at(labels, snapped) == BY_NAME["kidney_left"].label
    assert values[at[::-1]] < 25.0
    # Without the size rule the same point went to the focus.
    from dataclasses import replace
    greedy = check_positive(kidney, replace(UPTAKE["kidney_left"], min_focus_ml=0.0), hot)
    assert not isinstance(greedy, str)
    assert values[hot.TransformPhysicalPointToIndex(greedy)[::-1]] == 25.0



def test_the_shift_search_scores_each_shift_as_the_plain_correlation_does() -> None:
    import numpy as np

    from seganypet_node.atlas.register import _correlation, _row_correlations

    rng = np.random.default_rng(3)
    rows, b = rng.normal(size=(40, 90)), rng.normal(size=90)
    inside = rng.random((40, 90)) > 0.3
    inside[5] = False  # no overlap at all: scored -1 as _correlation scores a flat profile
    scores = _row_correlations(rows, b, inside)
    expected = [_correlation(r[m], b[m]) if m.any() else -1.0 for r, m in
                zip(rows, inside, strict=True)]
    assert np.allclose(scores, expected)
