"""The predictor's geometry: masks land on the object in any orientation; big organs are tiled."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from seganypet_node.model import COMPACT, VIT_B_ORI, build_sam3d
from seganypet_node.model.engine import RuntimeOptions, SamEngine
from seganypet_node.model.merging import DROPPED_LOGIT
from seganypet_node.model.pieces import gaps, piece_count
from seganypet_node.model.prediction import Prompt
from seganypet_node.model.predictor import PRIOR_LIMIT, SegAnyPETPredictor
from tests.model_doubles import BrightRegionEngine, LeakyEngine, ShortSightedEngine
from tests.unit.test_model_network import SMALL


def rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


DIRECTIONS = {
    "LPS": np.eye(3),
    "RAS": np.diag([-1.0, -1.0, 1.0]),
    "feet-first": np.diag([1.0, 1.0, -1.0]),
    "sagittal": np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]),
    "oblique": rotation(2, 25) @ rotation(0, 10),
}


def volume(direction: np.ndarray, spacing: tuple[float, float, float],
           inside) -> tuple[sitk.Image, np.ndarray]:
    """A 320 mm cube of patient space sampled on the given grid; ``inside(lps)`` is the object."""
    size = [round(320 / s) for s in spacing]
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetDirection(tuple(direction.flatten()))
    centre_index = (np.array(size) - 1) / 2
    image.SetOrigin(tuple(-(direction @ (centre_index * np.array(spacing)))))
    k, j, i = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    index = np.stack([i, j, k], axis=-1).reshape(-1, 3) * np.array(spacing)
    lps = index @ direction.T + np.array(image.GetOrigin())
    truth = inside(lps).reshape(size[::-1])
    values = np.where(truth, 5.0, 0.2).astype(np.float32)
    result = sitk.GetImageFromArray(values)
    result.CopyInformation(image)
    return result, truth


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def club(lps: np.ndarray) -> np.ndarray:
    """A sphere at (30, -40, 20) with a rod going +x (patient left) and -y (anterior)."""
    ball = np.linalg.norm(lps - [30, -40, 20], axis=1) < 25
    rod_x = (np.abs(lps[:, 1] + 40) < 8) & (np.abs(lps[:, 2] - 20) < 8) & (lps[:, 0] > 30) & (
        lps[:, 0] < 100)
    rod_y = (np.abs(lps[:, 0] - 30) < 8) & (np.abs(lps[:, 2] - 20) < 8) & (lps[:, 1] < -40) & (
        lps[:, 1] > -100)
    return ball | rod_x | rod_y


@pytest.mark.parametrize("name", list(DIRECTIONS))
@pytest.mark.parametrize("spacing", [(4.0, 4.0, 4.0), (2.0, 3.0, 5.0)])
@pytest.mark.parametrize("config", [VIT_B_ORI, COMPACT], ids=["vit_b_ori", "compact"])
def test_mask_lands_on_the_object(name: str, spacing, config) -> None:
    image, truth = volume(DIRECTIONS[name], spacing, club)
    predictor = SegAnyPETPredictor(BrightRegionEngine(config))
    predictor.set_image(image)
    prediction = predictor.predict([Prompt((30.0, -40.0, 20.0))])
    mask = sitk.GetArrayFromImage(prediction.mask).astype(bool)
    assert prediction.mask.GetSize() == image.GetSize()
    assert prediction.mask.GetDirection() == pytest.approx(image.GetDirection())
    assert dice(mask, truth) > 0.8, f"{name} {spacing}: dice {dice(mask, truth):.2f}"


def extent_z(mask: np.ndarray, spacing: float = 4.0) -> float:
    """Length along z (array axis 0) of a mask, mm."""
    slices = np.nonzero(mask.any(axis=(1, 2)))[0]
    return float(np.ptp(slices) + 1) * spacing


def long_object(lps: np.ndarray) -> np.ndarray:
    """An ellipsoid 260 mm long along z (like a liver plus lung, bigger than any crop)."""
    return ((lps[:, 0] / 30) ** 2 + (lps[:, 1] / 30) ** 2 + (lps[:, 2] / 130) ** 2) < 1


@pytest.mark.parametrize("config", [VIT_B_ORI, COMPACT], ids=["vit_b_ori", "compact"])
def test_object_longer_than_a_crop_is_segmented_whole(config) -> None:
    image, truth = volume(np.eye(3), (4.0, 4.0, 4.0), long_object)
    predictor = SegAnyPETPredictor(BrightRegionEngine(config))
    predictor.set_image(image)
    click = [Prompt((0.0, 0.0, 90.0))]  # near one end
    single = sitk.GetArrayFromImage(predictor.predict(click, tile=False).mask).astype(bool)
    whole = predictor.predict(click)
    mask = sitk.GetArrayFromImage(whole.mask).astype(bool)
    assert extent_z(truth) >= 250
    assert extent_z(single) < extent_z(truth) - 40  # one crop cuts it
    assert extent_z(mask) >= extent_z(truth) - 8  # tips thinner than a voxel may go
    assert dice(mask, truth) > 0.9
    assert len(whole.crops) > 1


def test_windows_get_the_known_logits_as_their_prior() -> None:
    class RecordingEngine(BrightRegionEngine):
        def __init__(self, config) -> None:
            super().__init__(config)
            self.priors: dict[tuple[float, ...], np.ndarray] = {}

        def decode(self, embedding, coords, labels, mask_prompt):
            self.priors[self.embedded[-1].centre] = mask_prompt.numpy().copy()
            return super().decode(embedding, coords, labels, mask_prompt)

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), long_object)
    engine = RecordingEngine(COMPACT)
    predictor = SegAnyPETPredictor(engine)
    predictor.set_image(image)
    prediction = predictor.predict([Prompt((0.0, 0.0, 90.0))])
    # The windows the result is made of (windows tried past the tips and dropped aside).
    windows = [engine.priors[crop.grid.centre] for crop in prediction.crops[1:]]
    assert windows and all(p.min() >= -PRIOR_LIMIT and p.max() <= PRIOR_LIMIT for p in windows)
    # Half of a window lies where no crop looked yet: unknown there, not "certainly outside".
    assert all(np.isclose(p, 0.0).mean() > 0.3 for p in windows)


def test_pieces_no_click_is_in_are_dropped() -> None:
    def ball_and_neighbour(lps: np.ndarray) -> np.ndarray:
        return (np.linalg.norm(lps - [0, 0, 0], axis=1) < 25) | (
            np.linalg.norm(lps - [0, 0, 70], axis=1) < 20)

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), ball_and_neighbour)
    _, clicked = volume(np.eye(3), (4.0, 4.0, 4.0), lambda lps: np.linalg.norm(lps, axis=1) < 25)
    predictor = SegAnyPETPredictor(LeakyEngine(COMPACT))
    predictor.set_image(image)
    prediction = predictor.predict([Prompt((0.0, 0.0, 0.0))])
    mask = sitk.GetArrayFromImage(prediction.mask).astype(bool)
    neighbour = image.TransformPhysicalPointToIndex((0, 0, 70))
    assert dice(mask, clicked) > 0.9
    assert prediction.logits[neighbour] <= DROPPED_LOGIT


def test_a_sliver_at_the_crop_face_is_not_followed() -> None:
    def ball_with_thin_rod(lps: np.ndarray) -> np.ndarray:
        rod = (np.abs(lps[:, 1]) < 8) & (np.abs(lps[:, 2]) < 8) & (lps[:, 0] > 0)
        return (np.linalg.norm(lps, axis=1) < 45) | rod

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), ball_with_thin_rod)
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(image)
    prediction = predictor.predict([Prompt((0.0, 0.0, 0.0))])
    assert len(prediction.crops) == 1  # the rod's section is a 25th of the ball's
    assert prediction.mask[image.TransformPhysicalPointToIndex((90, 0, 0))] == 1
    assert prediction.mask[image.TransformPhysicalPointToIndex((130, 0, 0))] == 0


def tube(lps: np.ndarray, low: float = -140.0, high: float = 140.0) -> np.ndarray:
    """A 24 mm tube along z, like an aorta: longer than a crop and as thin as a token."""
    return (np.linalg.norm(lps[:, :2], axis=1) < 12) & (lps[:, 2] > low) & (lps[:, 2] < high)


def test_a_tube_that_stops_inside_its_crop_is_followed_past_its_tips() -> None:
    image, truth = volume(np.eye(3), (4.0, 4.0, 4.0), tube)
    predictor = SegAnyPETPredictor(ShortSightedEngine(COMPACT, reach_mm=50.0))
    predictor.set_image(image)
    click = [Prompt((0.0, 0.0, -20.0))]
    single = sitk.GetArrayFromImage(predictor.predict(click, tile=False).mask).astype(bool)
    whole = sitk.GetArrayFromImage(predictor.predict(click).mask).astype(bool)
    assert extent_z(single) <= 112  # the engine sees 50 mm each way of the click
    assert extent_z(whole) >= extent_z(truth) - 8
    assert dice(whole, truth) > 0.85


def test_a_compact_organ_gets_no_windows_past_its_tips() -> None:
    # The engine stops 60 mm from the click, inside a ball reaching past the crop's central
    # half: windows at the mask's "tips" would grow it, so only its compactness stops them.
    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), lambda lps: np.linalg.norm(lps, axis=1) < 80)
    predictor = SegAnyPETPredictor(ShortSightedEngine(COMPACT, reach_mm=60.0))
    predictor.set_image(image)
    assert len(predictor.predict([Prompt((0.0, 0.0, 0.0))]).crops) == 1


def test_following_a_tube_stops_where_a_window_would_add_a_blob() -> None:
    def tube_into_ball(lps: np.ndarray) -> np.ndarray:
        return tube(lps, -140.0, 70.0) | (np.linalg.norm(lps - [0, 0, 105], axis=1) < 40)

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), tube_into_ball)
    predictor = SegAnyPETPredictor(ShortSightedEngine(COMPACT, reach_mm=50.0))
    predictor.set_image(image)
    prediction = predictor.predict([Prompt((0.0, 0.0, -60.0))])
    assert prediction.mask[image.TransformPhysicalPointToIndex((0, 0, -130))] == 1
    assert prediction.mask[image.TransformPhysicalPointToIndex((0, 0, 105))] == 0


def test_pieces_left_apart_by_points_further_apart_than_a_crop_are_joined() -> None:
    # Crops centred on the two points (192 mm each) leave z -14..14 mm unseen.
    image, truth = volume(np.eye(3), (4.0, 4.0, 4.0), tube)
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(image)
    points = [Prompt((0.0, 0.0, -110.0)), Prompt((0.0, 0.0, 110.0))]
    prediction = predictor.predict_points(points)
    mask = sitk.GetArrayFromImage(prediction.mask).astype(bool)
    assert piece_count(mask) == 1 and len(prediction.crops) == 3
    assert prediction.mask[image.TransformPhysicalPointToIndex((0, 0, 0))] == 1
    assert dice(mask, truth) > 0.9


def test_a_window_over_a_real_gap_between_two_objects_is_not_kept() -> None:
    def two_tubes(lps: np.ndarray) -> np.ndarray:
        return tube(lps, -140.0, -16.0) | tube(lps, 16.0, 140.0)

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), two_tubes)
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(image)
    prediction = predictor.predict_points([Prompt((0.0, 0.0, -110.0)),
                                           Prompt((0.0, 0.0, 110.0))])
    assert len(prediction.crops) == 2  # the window over the gap joined nothing
    assert piece_count(sitk.GetArrayFromImage(prediction.mask).astype(bool)) == 2


def test_gaps_are_measured_from_the_largest_piece_closest_first() -> None:
    mask = np.zeros((40, 10, 10), bool)
    mask[0:20, 4:6, 4:6] = True  # the largest piece, z 0-19
    mask[30:33, 4:6, 4:6] = True  # 11 voxels above it
    mask[23:25, 4:6, 4:6] = True  # 4 voxels above it
    found = gaps(mask, (2.0, 1.0, 1.0))
    assert [g.mm for g in found] == [8.0, 22.0]
    assert found[0].near[0] == 19 and found[0].far[0] == 23
    assert gaps(mask[:20], (2.0, 1.0, 1.0)) == [] and gaps(np.zeros_like(mask), (1, 1, 1)) == []


def test_negative_click_removes_a_region() -> None:
    def two_balls(lps: np.ndarray) -> np.ndarray:
        return (np.linalg.norm(lps - [0, 0, 0], axis=1) < 20) | (
            np.linalg.norm(lps - [0, 0, 50], axis=1) < 20)

    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), two_balls)
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(image)
    both = predictor.predict([Prompt((0, 0, 0)), Prompt((0, 0, 50))], tile=False)
    upper = both.mask[image.TransformPhysicalPointToIndex((0, 0, 50))]
    assert upper == 1
    fewer = predictor.refine(both, [Prompt((0, 0, 50), positive=False)])
    assert fewer.mask[image.TransformPhysicalPointToIndex((0, 0, 50))] == 0
    assert fewer.mask[image.TransformPhysicalPointToIndex((0, 0, 0))] == 1
    assert len(fewer.crops[0].clicks) == 3


def test_shared_crop_runs_the_encoder_once() -> None:
    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), club)
    engine = BrightRegionEngine(COMPACT)
    predictor = SegAnyPETPredictor(engine)
    predictor.set_image(image)
    results = predictor.predict_many(
        [[Prompt((30, -40, 20))], [Prompt((0, 0, 0), positive=True)]], tile=False,
        centre=(10, -20, 10))
    assert len(engine.embedded) == 1 and len(results) == 2


def test_real_network_engine_caches_embeddings_and_returns_grid_outputs() -> None:
    image, _ = volume(np.eye(3), (4.0, 4.0, 4.0), club)
    engine = SamEngine(build_sam3d(SMALL), RuntimeOptions(device="cpu", mirror_images=1))
    predictor = SegAnyPETPredictor(engine, max_windows=1)
    predictor.set_image(image)
    first = predictor.predict([Prompt((30, -40, 20))])
    cached = engine.embed(np.zeros((128,) * 3, np.float32), first.crops[0].grid)
    again = predictor.refine(first, [Prompt((40, -40, 20))])
    assert engine.embed(np.zeros((128,) * 3, np.float32), again.crops[0].grid) is cached
    assert first.logits.GetSize() == image.GetSize()
    assert isinstance(first.iou, float)
    assert not np.allclose(sitk.GetArrayFromImage(first.logits),
                           sitk.GetArrayFromImage(again.logits))


def test_a_prediction_is_held_on_its_crops_box_not_the_field_of_view() -> None:
    # A 1.6 m tall field with a 48 mm cube: before, every merge (and each trial merge while
    # following an organ) held the whole field in float32 twice.
    spacing = (4.0, 4.0, 4.0)
    image = sitk.Image([80, 80, 400], sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetOrigin((-160.0, -160.0, -800.0))
    values = np.full((400, 80, 80), 0.2, np.float32)
    values[294:306, 34:46, 34:46] = 5.0  # a 48 mm cube around (0, 0, 400)
    ball = sitk.GetImageFromArray(values)
    ball.CopyInformation(image)
    predictor = SegAnyPETPredictor(BrightRegionEngine(COMPACT))
    predictor.set_image(ball)
    prediction = predictor.predict_points([Prompt((0.0, 0.0, 400.0))])
    assert prediction.local_logits.size <= COMPACT.crop_size ** 3 + 3 * 66 ** 2
    assert prediction.local_logits.size < values.size / 10
    full = sitk.GetArrayFromImage(prediction.mask).astype(bool)
    assert full.sum() == prediction.local_mask().sum() > 0
    assert full[296:304, 36:44, 36:44].all()
    assert np.array_equal(prediction.mask_in((slice(290, 320), slice(30, 50), slice(30, 50))),
                          full[290:320, 30:50, 30:50])
    local = prediction.local_logits_image()
    assert local.GetOrigin() == pytest.approx(
        ball.TransformIndexToPhysicalPoint(tuple(int(v) for v in prediction.offset[::-1])))
