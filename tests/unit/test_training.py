"""Training crops match inference crops; clicks, metrics and a short resumable training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from seganypet_node.evaluation.metrics import dice, hausdorff95
from seganypet_node.imaging.volume import as_image
from seganypet_node.model import COMPACT
from seganypet_node.model.crop import array_to_crop
from seganypet_node.model.engine import z_normalise
from seganypet_node.organs import BY_NAME
from seganypet_node.phantom.generate import PhantomSpec, generate_volume
from seganypet_node.training.data import CropSampler, error_click


@pytest.fixture(scope="module")
def volume():
    return generate_volume(PhantomSpec(seed=77, slices=300, matrix=112))


def test_training_crops_are_the_predictors_crops(volume) -> None:
    sampler = CropSampler([volume], COMPACT, np.random.default_rng(0), augment=False)
    image = as_image(volume.suv, volume.grid.spacing, volume.grid.origin)
    for _ in range(5):
        crop = sampler.sample()
        assert crop.target[tuple(np.round(crop.click).astype(int))], "click outside its target"
        inference = z_normalise(array_to_crop(image, crop.grid))
        assert np.allclose(inference, crop.image, atol=1e-3)


def test_error_click() -> None:
    truth = np.zeros((20, 20, 20), bool)
    truth[5:15, 5:15, 5:15] = True
    assert error_click(truth, truth) is None
    missed = truth.copy()
    missed[5:15, 5:15, 10:15] = False
    index, positive = error_click(missed, truth)
    assert positive and truth[tuple(index.astype(int))] and not missed[tuple(index.astype(int))]
    extra = truth.copy()
    extra[0:4, 0:20, 0:20] = True
    index, positive = error_click(extra, truth)
    assert not positive and not truth[tuple(index.astype(int))]


def test_metrics() -> None:
    a = np.zeros((30, 30, 30), bool)
    a[10:20, 10:20, 10:20] = True
    b = np.roll(a, 2, axis=2)
    assert dice(a, a) == 1.0 and dice(a, b) == pytest.approx(0.8)
    assert hausdorff95(a, b, (2.0, 2.0, 2.0)) == pytest.approx(4.0)
    assert hausdorff95(a, np.zeros_like(a), (1.0, 1.0, 1.0)) == float("inf")


@pytest.mark.slow
def test_training_runs_reports_progress_and_resumes(tmp_path: Path, monkeypatch) -> None:
    from seganypet_node.training import train as training

    monkeypatch.setattr(training, "training_subjects",
                        lambda count, log, hard=0: [generate_volume(
                            PhantomSpec(seed=1000, slices=300, matrix=112))])
    lines: list[str] = []
    plan = training.TrainingPlan(out=tmp_path, steps=2, batch=2, subjects=1, report_every=1,
                                 save_every=1)
    first = training.train(plan, log=lines.append)
    assert first.is_file() and (tmp_path / "train_state.pt").is_file()
    assert any(line.startswith("step 2/2") for line in lines)
    lines.clear()
    training.train(training.TrainingPlan(out=tmp_path, steps=3, batch=2, subjects=1,
                                         report_every=1, save_every=1), log=lines.append)
    assert "resumed at step 2" in lines
    assert any(line.startswith("step 3/3") for line in lines)
    assert not any(line.startswith("step 1/") for line in lines)


def test_scoring_with_simulated_clicks() -> None:
    from seganypet_node.evaluation.clicks import score_organ
    from seganypet_node.model.predictor import SegAnyPETPredictor
    from tests.model_doubles import BrightRegionEngine

    values = np.full((40, 60, 60), 0.2, np.float32)
    values[10:30, 20:40, 15:45] = 5.0
    truth = values > 1
    image = as_image(values, (4.0, 4.0, 4.0), (-120.0, -120.0, -80.0))
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(image)
    score = score_organ(predictor, image, truth, "box", "liver")
    assert score.dice_1 > 0.9 and score.dice_5 >= score.dice_1 - 0.01
    assert score.hd95_1 <= 8.0


def test_pet_simulated_on_the_totalseg_ct(shared_data) -> None:
    from seganypet_node.organs import BY_NAME
    from seganypet_node.phantom.from_ct import simulate_from_totalseg

    simulated = simulate_from_totalseg(seed=1)
    suv = sitk.GetArrayFromImage(simulated.suv)
    assert simulated.suv.GetDirection()[0] == -1  # the CT's own (RAS-like) orientation
    for organ in ("liver", "spleen", "kidney_left", "kidney_right", "aorta"):
        assert (simulated.labels == BY_NAME[organ].label).sum() > 300, organ
    liver = np.median(suv[simulated.labels == BY_NAME["liver"].label])
    assert 1.3 < liver < 3.2


def test_focus_organs_get_half_of_the_crops(volume) -> None:
    sampler = CropSampler([volume], COMPACT, np.random.default_rng(3), augment=False,
                          focus=("aorta",))
    aorta = BY_NAME["aorta"].label
    drawn = [sampler._organs[sampler._draw_organ()][1] for _ in range(400)]
    share = np.mean([label == aorta for label in drawn])
    assert 0.45 < share < 0.65  # half focused, plus its share of the other half
    with pytest.raises(KeyError, match="pancreas"):
        CropSampler([volume], COMPACT, np.random.default_rng(3), focus=("pancreas",))


@pytest.mark.slow
def test_fine_tuning_starts_from_the_given_checkpoint(tmp_path: Path, monkeypatch) -> None:
    import torch

    from seganypet_node.model.checkpoint import load_model, save_checkpoint
    from seganypet_node.model.modeling.build import build_sam3d
    from seganypet_node.training import train as training

    monkeypatch.setattr(training, "training_subjects",
                        lambda count, log, hard=0: [generate_volume(
                            PhantomSpec(seed=1000, slices=300, matrix=112))])
    torch.manual_seed(5)
    start = build_sam3d(COMPACT)
    save_checkpoint(start, tmp_path / "start.pth")
    plan = training.TrainingPlan(out=tmp_path / "ft", steps=1, batch=1, subjects=1,
                                 learning_rate=1e-9, warmup=1, init=tmp_path / "start.pth",
                                 focus=("aorta",))
    tuned = load_model(training.train(plan, log=lambda line: None))
    before = start.state_dict()
    # A learning rate of 1e-9 moves nothing visibly: the weights are the checkpoint's.
    for name, value in tuned.model.state_dict().items():
        assert torch.allclose(value, before[name], atol=1e-5), name
    assert tuned.meta["fine_tuned_from"] == "start.pth" and tuned.meta["focus"] == ["aorta"]
