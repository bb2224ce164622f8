"""The automatic pipeline with the bundled network and the default atlas, on phantoms."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk

from seganypet_node.config import resource_dir
from seganypet_node.evaluation.metrics import dice
from seganypet_node.imaging.units import Unit
from seganypet_node.imaging.volume import VolumeInput, as_image
from seganypet_node.model.pieces import largest_component, prompted_pieces
from seganypet_node.model.prediction import Prompt
from seganypet_node.organs import BY_NAME
from seganypet_node.outputs.folder import write_folder
from seganypet_node.pipeline import RunSource

pytestmark = pytest.mark.slow


def as_input(volume, keep_slices: int | None = None) -> VolumeInput:
    grid = volume.grid
    suv = volume.suv[:keep_slices]
    return VolumeInput(as_image(suv, grid.spacing, grid.origin), Unit.SUVBW)


def test_every_organ_is_found_disjoint_and_close_to_the_truth(compact_pipeline,
                                                               body_volume) -> None:
    result = compact_pipeline.run(as_input(body_volume))
    assert [o.organ for o in result.organs] == list(BY_NAME)
    owner = np.zeros(body_volume.labels.shape, np.int16)
    scores = {}
    for organ in result.organs:
        assert organ.found and organ.mask is not None, f"{organ.organ}: {organ.reason}"
        mask = organ.mask.full()
        assert not (owner[mask] > 0).any(), f"{organ.organ} overlaps another organ"
        owner[mask] = BY_NAME[organ.organ].label
        scores[organ.organ] = dice(mask, body_volume.labels == BY_NAME[organ.organ].label)
        assert organ.stats is not None and organ.stats.unit == "SUVbw"
    for name in ("brain", "heart", "liver", "kidney_left", "kidney_right", "urinary_bladder"):
        assert scores[name] > 0.8, (name, scores)
    assert np.mean(list(scores.values())) > 0.7, scores
    stages = dict(result.timings)
    assert "registration and prompts" in stages and "inference liver" in stages


def test_organ_outside_the_field_is_reported_not_found(compact_pipeline, body_volume) -> None:
    """Neck to thigh: no brain in the field, so no brain mask, and the reason says why."""
    brain_rows = np.nonzero((body_volume.labels == BY_NAME["brain"].label).any(axis=(1, 2)))[0]
    keep = int(brain_rows.min()) - 15  # 60 mm below the brain
    result = compact_pipeline.run(as_input(body_volume, keep))
    brain = next(o for o in result.organs if o.organ == "brain")
    assert not brain.found and brain.mask is None and brain.stats is None
    assert "outside the field of view" in (brain.reason or "")
    liver = next(o for o in result.organs if o.organ == "liver")
    assert liver.found


def test_results_folder_holds_masks_on_the_input_grid_and_a_summary(
        compact_pipeline, body_volume, tmp_path) -> None:
    volume = as_input(body_volume)
    written = write_folder(compact_pipeline.run(volume), volume, tmp_path,
                           RunSource(files=("test",)))
    result = written.result
    assert written.objects == () and "NIfTI" in (written.dicom_note or "")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["organs"]) == list(BY_NAME)
    assert summary["registration"]["body_overlap"] > 0.75
    assert summary["registration"]["atlas_subjects_fused"] == 8  # the default atlas's all
    assert summary["source"]["checkpoint"] == "seganypet_compact.pth"
    bundled = resource_dir("models") / "seganypet_compact.pth"
    assert summary["source"]["checkpoint_sha256"] == hashlib.sha256(
        bundled.read_bytes()).hexdigest()
    for organ in result.organs:
        entry = summary["organs"][organ.organ]
        mask = sitk.ReadImage(str(tmp_path / entry["mask"]))
        assert mask.GetSize() == volume.values.GetSize()
        assert mask.GetOrigin() == volume.values.GetOrigin()
        assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, organ.mask.full())
        assert entry["volume_ml"] == pytest.approx(organ.mask.voxels * 0.064, rel=1e-3)
        assert any(p["positive"] for p in entry["prompts"])
    assert result.timings[-1][0] == "writing masks and summary"
    assert "writing seg" not in summary["timings_s"]  # NIfTI input: no DICOM objects
    assert set(summary["reference_regions"]) == {"liver", "blood pool"}


def test_lesions_are_found_and_left_out_of_their_organ_and_the_references(
        compact_pipeline) -> None:
    """The physicist's review case: a liver and a lung lesion in a typical phantom."""
    from seganypet_node.organs import LESION_LABEL_BASE
    from seganypet_node.phantom.generate import PhantomSpec, generate_volume

    phantom = generate_volume(PhantomSpec(seed=4242, lesions=3))
    result = compact_pipeline.run(as_input(phantom))
    search = result.lesions
    assert search.assessed and search.threshold is not None
    assert search.threshold.rule.name == "PERCIST"
    truth_liver_lesion = phantom.labels == LESION_LABEL_BASE + 1  # placed in the liver
    [liver_lesion] = [x for x in search.lesions if (x.mask.full() & truth_liver_lesion).any()]
    assert liver_lesion.site == "liver"
    assert dice(liver_lesion.mask.full(), truth_liver_lesion) > 0.7
    liver = next(o for o in result.organs if o.organ == "liver")
    assert liver_lesion.label in liver.lesions
    normal_liver = phantom.suv[phantom.labels == BY_NAME["liver"].label]
    assert liver.stats.maximum < liver_lesion.stats.maximum
    assert liver.stats.maximum < np.percentile(normal_liver, 99.99) * 1.2  # normal tissue
    truths = phantom.labels > LESION_LABEL_BASE
    assert sum(not (x.mask.full() & truths).any() for x in search.lesions) <= 1  # false +
    pool = next(r for r in result.references if r.name == "blood pool")
    heart_rows = np.nonzero((phantom.labels == BY_NAME["heart"].label).any(axis=(1, 2)))[0]
    assert pool.site == "descending thoracic aorta"
    assert heart_rows.min() <= pool.centre_index[0] <= heart_rows.max()
    assert "lesions" in dict(result.timings)


def test_largest_component_keeps_one_piece() -> None:
    mask = np.zeros((10, 10, 10), bool)
    mask[1:4, 1:4, 1:4] = True
    mask[6:9, 6:9, 6:9] = True
    mask[6, 6, 5] = True  # the bigger piece
    kept = largest_component(mask)
    assert kept.sum() == 28 and kept[6, 6, 5] and not kept[2, 2, 2]


def test_pieces_holding_a_positive_prompt_are_kept_and_a_stray_one_is_not() -> None:
    mask = np.zeros((10, 10, 10), bool)
    mask[1:4, 1:4, 1:4] = True  # [z, y, x]
    mask[6:9, 6:9, 6:9] = True
    mask[0, 8, 8] = True  # stray, with only a negative prompt on it
    image = sitk.Image(10, 10, 10, sitk.sitkUInt8)  # index (x, y, z) = point (x, y, z) mm
    prompts = (Prompt((2.0, 2.0, 2.0)), Prompt((7.0, 7.0, 7.0)),
               Prompt((8.0, 8.0, 0.0), positive=False))
    kept = prompted_pieces(mask, prompts, image)
    assert kept.sum() == 54 and kept[2, 2, 2] and kept[7, 7, 7] and not kept[0, 8, 8]
    outside = (Prompt((5.0, 5.0, 5.0)), Prompt((40.0, 0.0, 0.0)))  # in no piece / off the grid
    assert np.array_equal(prompted_pieces(mask, outside, image), largest_component(mask))
    # the same mask held on a box of a larger grid whose first voxel is [z, y, x] = (5, 3, 2)
    grid = sitk.Image(20, 20, 20, sitk.sitkUInt8)
    moved = tuple(Prompt((p.point[0] + 2, p.point[1] + 3, p.point[2] + 5), p.positive)
                  for p in prompts)
    assert np.array_equal(prompted_pieces(mask, moved, grid, offset=(5, 3, 2)), kept)


def test_timings_accumulate_named_stages_in_order() -> None:
    import time

    from seganypet_node.pipeline.timings import Stage, Timings

    timings = Timings(((Stage.READ_SERIES, 1.5),))
    with timings.timed(Stage.INFERENCE.of("liver")):
        time.sleep(0.01)
    timings.add(Stage.MASKS_AND_SUMMARY, 0.25)
    names = [name for name, _ in timings.entries]
    assert names == ["read series", "inference liver", "writing masks and summary"]
    assert timings.entries[1][1] >= 0.01 and all(type(n) is str for n in names)


def test_box_held_merge_gives_each_voxel_to_the_highest_logit_as_a_full_volume_would() -> None:
    """Each organ's logits are kept on its own box; the owner of every voxel is the one a
    full-volume running maximum (the merge before) gives."""
    from seganypet_node.pipeline.run import best_logits

    rng = np.random.default_rng(5)
    shape = (30, 24, 26)
    owner = np.zeros(shape, np.uint8)
    full_best = np.full(shape, -np.inf, np.float32)
    expected = np.zeros(shape, np.uint8)
    answered = []
    for number in range(1, 7):
        low = rng.integers(0, 12, 3)
        box = tuple(slice(int(lo), int(lo) + int(n)) for lo, n in zip(low, rng.integers(4, 14, 3),
                                                                         strict=True))
        logits = rng.normal(0, 3, [b.stop - b.start for b in box]).astype(np.float32)
        claim = (logits > 0) & (logits > best_logits(answered, box))
        owner[box][claim] = number
        answered.append((box, logits))
        old = (logits > 0) & (logits > full_best[box])
        expected[box][old] = number
        full_best[box][old] = logits[old]
    assert np.array_equal(owner, expected) and len(np.unique(owner)) == 7
