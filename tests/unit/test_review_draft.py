"""A reader's corrections of a study: corrective clicks on finished masks, the draft's steps
and undo, figures measured again, a run read back from its folder, the pictures' pixels.

On the three-lesion phantom with the bundled compact network; the masks under review are
made from the phantom's truth and then spoiled, so each test knows what a right correction
is.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from seganypet_node.evaluation.metrics import dice
from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.imaging.pet import read_pet_series
from seganypet_node.imaging.volume import from_pet_series
from seganypet_node.lesions.delineate import LesionMask
from seganypet_node.lesions.results import Delineation, LesionSearch
from seganypet_node.model.correction import MAX_REACH_MM, corrected_mask
from seganypet_node.model.prediction import Prompt
from seganypet_node.organs import organ
from seganypet_node.outputs.reload import read_saved_run
from seganypet_node.outputs.summary import RunRecord, write_results
from seganypet_node.pipeline import PipelineResult, RunSource
from seganypet_node.pipeline.draft import REJECTED_REASON, StudyDraft
from seganypet_node.pipeline.findings import CorrectionAction, DraftError, FindingStatus
from seganypet_node.pipeline.remeasure import KeptLesion, remeasured
from seganypet_node.pipeline.results import OrganResult
from seganypet_node.pipeline.run import suv_like
from seganypet_node.review.views import Overlay, Plane, Window, render, voxel_at

ORGANS = ("liver", "spleen", "heart", "kidney_left", "aorta")


@pytest.fixture(scope="module")
def study(make_phantom):
    made = make_phantom(4242, matrix=168, slices=300, lesions=3)
    volume = from_pet_series(read_pet_series(made.files))
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(made.labels_path)))
    return volume, suv_like(volume), truth


@pytest.fixture(scope="module")
def predictor(compact_pipeline):
    return compact_pipeline.predictor


def point(image: sitk.Image, index) -> tuple[float, float, float]:
    p = image.TransformIndexToPhysicalPoint(tuple(int(v) for v in index[::-1]))
    return (p[0], p[1], p[2])


def deepest(mask: np.ndarray) -> tuple[int, int, int]:
    depth = ndimage.distance_transform_edt(mask)
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), mask.shape))


def truth_result(truth: np.ndarray, spoil: dict[str, np.ndarray] | None = None
                 ) -> PipelineResult:
    spoil = spoil or {}
    organs = tuple(OrganResult(name, BoxMask.of(spoil.get(name, truth == organ(name).label)),
                               None, ()) for name in ORGANS)
    return PipelineResult(organs, None, "SUVbw", (), lesions=LesionSearch(True))


def truth_lesions(truth: np.ndarray) -> list[KeptLesion]:
    kept = []
    for label in (101, 102):
        mask = BoxMask.of(truth == label)
        kept.append(KeptLesion(LesionMask(mask.box, mask.local, tuple(mask.indices()[0]),
                                          Delineation.SEGANYPET), f"1.2.3.{label}"))
    return kept


def test_a_negative_click_removes_the_excess_round_it_and_adds_nothing(study, predictor):
    _, suv, truth = study
    spleen = truth == organ("spleen").label
    grown = ndimage.binary_dilation(spleen, iterations=3)
    excess = grown & ~spleen
    predictor.set_image(suv)
    at = deepest(excess)
    answer = corrected_mask(predictor, BoxMask.of(grown), Prompt(point(suv, at), positive=False))
    after = answer.mask.full()
    assert not (after & ~grown).any()  # never adds
    removed = grown & ~after
    assert answer.changed_voxels == int(removed.sum()) > 0
    # Only round the click, and mostly what was not spleen.
    far = np.linalg.norm((np.argwhere(removed) - at) * suv.GetSpacing()[::-1], axis=1)
    assert far.max() <= MAX_REACH_MM + 1e-6
    assert (removed & excess).sum() >= 0.7 * removed.sum()
    assert dice(after, spleen) > dice(grown, spleen)
    # A second click in the same crop continues from its logits, on the cached embedding.
    again = corrected_mask(predictor, answer.mask, Prompt(point(suv, deepest(
        after & ~spleen)), positive=False), answer.crops)
    assert len(again.crops) == 1 and len(again.crops[0].clicks) >= 2


def test_a_positive_click_adds_the_missed_part_and_removes_nothing(study, predictor):
    _, suv, truth = study
    kidney = truth == organ("kidney_left").label
    levels = np.nonzero(kidney.any(axis=(1, 2)))[0]
    half = kidney.copy()
    half[: (levels[0] + levels[-1]) // 2] = False
    predictor.set_image(suv)
    answer = corrected_mask(predictor, BoxMask.of(half),
                            Prompt(point(suv, deepest(kidney & ~half))))
    after = answer.mask.full()
    assert not (half & ~after).any()  # never removes
    assert dice(after, kidney) > max(0.9, dice(half, kidney) + 0.1)


def test_a_click_outside_the_image_is_refused(study, predictor):
    _, suv, truth = study
    predictor.set_image(suv)
    with pytest.raises(ValueError, match="outside the image"):
        corrected_mask(predictor, BoxMask.of(truth == 3), Prompt((1e5, 0.0, 0.0), False))


def test_draft_steps_undo_and_figures_follow_the_masks(study, predictor):
    volume, suv, truth = study
    spleen = truth == organ("spleen").label
    grown = ndimage.binary_dilation(spleen, iterations=3)
    draft = StudyDraft(truth_result(truth, {"spleen": grown}), truth_lesions(truth), volume,
                       suv, predictor)
    first = draft.result()
    volume_of = {o.organ: o.stats.volume_ml for o in first.organs if o.stats}
    assert not draft.changed and len(first.lesions.lesions) == 2

    step = draft.click("spleen", point(suv, deepest(grown & ~spleen)), positive=False)
    assert step.action is CorrectionAction.NEGATIVE_CLICK and step.changed_voxels > 0
    spleen_after = next(o for o in draft.result().organs if o.organ == "spleen")
    assert spleen_after.stats.volume_ml < volume_of["spleen"]
    draft.set_status("lesion_2", FindingStatus.REJECTED)
    assert [x.tracking_uid for x in draft.result().lesions.lesions] == ["1.2.3.101"]
    with pytest.raises(DraftError, match="liver is already a finding"):
        draft.relabel("spleen", "liver")
    draft.set_status("heart", FindingStatus.REJECTED)
    heart = next(o for o in draft.result().organs if o.organ == "heart")
    assert heart.mask is None and heart.reason == REJECTED_REASON
    assert draft.changed

    draft.undo()
    draft.undo()
    assert len(draft.result().lesions.lesions) == 2
    draft.undo()
    assert draft.finding("spleen").mask.voxels == int(grown.sum()) and not draft.changed
    with pytest.raises(DraftError, match="nothing to undo"):
        draft.undo()


def test_an_added_lesion_is_measured_and_left_out_of_its_organ(study, predictor):
    volume, suv, truth = study
    draft = StudyDraft(truth_result(truth), [], volume, suv, predictor)
    lesion = truth == 101  # the liver lesion of this phantom
    assert (ndimage.binary_dilation(lesion) & (truth == organ("liver").label)).any()
    liver_before = next(o for o in draft.result().organs if o.organ == "liver").stats
    hottest = np.unravel_index(int(np.argmax(np.where(lesion, sitk.GetArrayViewFromImage(suv),
                                                      -1))), lesion.shape)
    draft.add_lesion(point(suv, hottest))
    result = draft.result()
    (found,) = result.lesions.lesions
    assert found.mask.full()[tuple(hottest)] and found.tracking_uid
    assert result.lesions.burden is not None and result.lesions.burden.count == 1
    liver = next(o for o in result.organs if o.organ == "liver")
    assert found.site == "liver" and liver.lesions == (found.label,)
    assert liver.stats.maximum < liver_before.maximum


def test_a_run_reads_back_from_its_folder(study, tmp_path):
    volume, suv, truth = study
    result = remeasured(truth_result(truth), volume, suv, truth_result(truth).organs,
                        truth_lesions(truth))
    write_results(result, volume.values, tmp_path, RunRecord(RunSource(job=7)))
    saved = read_saved_run(tmp_path, suv)
    assert [o.organ for o in saved.result.organs] == list(ORGANS)
    for name, back in zip(ORGANS, saved.result.organs, strict=True):
        assert np.array_equal(back.mask.full(), truth == organ(name).label), name
    assert [k.tracking_uid for k in saved.lesions] == [x.tracking_uid
                                                       for x in result.lesions.lesions]


@pytest.mark.parametrize("head_first", [True, False])
@pytest.mark.parametrize("plane", list(Plane))
def test_a_pixel_maps_back_to_the_voxel_drawn_there(plane, head_first):
    values = np.random.default_rng(3).random((20, 16, 12)).astype(np.float32)
    voxel = (4, 9, 7)
    if plane is Plane.MIP:
        values[voxel] = 5.0  # the MIP's click means the hottest voxel along the ray
    marked = np.zeros(values.shape, bool)
    marked[voxel] = True
    index = {Plane.AXIAL: voxel[0], Plane.CORONAL: voxel[1], Plane.SAGITTAL: voxel[2],
             Plane.MIP: 0}[plane]
    png = render(values, plane, index, Window(0, 10), [Overlay(BoxMask.of(marked),
                                                               (255, 0, 0))], head_first)
    picture = np.asarray(Image.open(BytesIO(png)))
    rows, cols = np.nonzero((picture[..., 0] == 255) & (picture[..., 1] == 0))
    assert len(rows) == 1
    assert voxel_at(values, plane, index, int(rows[0]), int(cols[0]), head_first) == voxel
    with pytest.raises(ValueError, match="outside"):
        voxel_at(values, plane, index, 999, 0, head_first)
