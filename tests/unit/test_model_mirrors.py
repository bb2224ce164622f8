"""Test-time mirror averaging in the engine: mirrored inputs, un-mirrored and averaged outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seganypet_node.model import build_sam3d
from seganypet_node.model.crop import CropGrid
from seganypet_node.model.engine import RuntimeOptions, SamEngine
from seganypet_node.model.mirrors import mirror_set, mirrored_points, mirrored_volume
from tests.unit.test_model_network import SMALL, randomise


def test_mirror_sets_come_in_groups_and_other_counts_are_refused() -> None:
    assert mirror_set(1) == ((),)
    assert mirror_set(4) == ((), (0, 1, 2), (0,), (1, 2))
    assert len(set(mirror_set(8))) == 8
    with pytest.raises(ValueError, match="expected one of"):
        mirror_set(3)


def test_mirrored_points_and_volumes_are_their_own_inverse() -> None:
    coords = torch.tensor([[[0.0, 5.5, 127.0]]])
    assert mirrored_points(coords, (0, 2), 128).tolist() == [[[127.0, 5.5, 0.0]]]
    volume = torch.arange(2 * 27, dtype=torch.float32).reshape(2, 1, 3, 3, 3)
    once = mirrored_volume(volume, (1,))
    assert not torch.equal(once, volume)
    assert torch.equal(mirrored_volume(once, (1,)), volume)


def _decode(engine: SamEngine, crop: np.ndarray, points: torch.Tensor,
            prior: torch.Tensor) -> torch.Tensor:
    grid = CropGrid((0.0, 0.0, 0.0), 128, 1.5, "RAS")
    engine.clear_cache()
    return engine.decode(engine.embed(crop, grid), points, torch.tensor([[1, 0]]), prior)[0]


def test_averaging_over_the_point_reflection_makes_the_network_equivariant_to_it() -> None:
    # The plain network answers a reflected crop differently; the average over {identity,
    # reflection} must answer it with exactly the reflected answer. Fails if the points, the
    # mask prompt or the logits are not mirrored in step with the crop.
    model = randomise(build_sam3d(SMALL).eval())
    rng = np.random.default_rng(3)
    crop = rng.gamma(2.0, 1.0, (128,) * 3).astype(np.float32)
    points = torch.tensor([[[40.0, 70.0, 60.0], [90.0, 30.0, 20.0]]])
    prior = torch.randn(1, 1, 32, 32, 32, generator=torch.Generator().manual_seed(1))
    reflected = (np.flip(crop).copy(), mirrored_points(points, (0, 1, 2), 128),
                 mirrored_volume(prior, (0, 1, 2)))
    for images, equivariant in ((1, False), (2, True)):
        engine = SamEngine(model, RuntimeOptions(device="cpu", mirror_images=images))
        direct = _decode(engine, crop, points, prior)
        answer = mirrored_volume(_decode(engine, *reflected), (0, 1, 2))
        assert torch.allclose(direct, answer, atol=1e-4) == equivariant


def test_mirror_images_decoded_in_one_batch_equal_one_pass_per_image() -> None:
    # The batch is mirror-major (M x B); a reshape in the wrong order, or one image's mask
    # prompt paired with another's embedding, changes the average.
    model = randomise(build_sam3d(SMALL).eval())
    engine = SamEngine(model, RuntimeOptions(device="cpu", mirror_images=4))
    rng = np.random.default_rng(5)
    crop = rng.gamma(2.0, 1.0, (128,) * 3).astype(np.float32)
    embedding = engine.embed(crop, CropGrid((0.0, 0.0, 0.0), 128, 1.5, "RAS"))
    coords = torch.tensor([[[40.0, 70.0, 60.0]], [[90.0, 30.0, 20.0]]])
    labels = torch.tensor([[1], [1]])
    priors = torch.randn(2, 1, 32, 32, 32, generator=torch.Generator().manual_seed(2))
    batched, batched_iou = engine.decode(embedding, coords, labels, priors)
    logits, iou = [], []
    with torch.inference_mode():
        for image, axes in enumerate(mirror_set(4)):
            one, score = engine._decode_batch(
                embedding[image:image + 1], mirrored_points(coords, axes, 128), labels,
                mirrored_volume(priors, axes))
            logits.append(mirrored_volume(one, axes))
            iou.append(score)
    assert batched.shape == (2, 1, 32, 32, 32)
    assert torch.allclose(batched, torch.stack(logits).mean(0), atol=1e-4)
    assert torch.allclose(batched_iou, torch.stack(iou).mean(0), atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-2)
