"""The mask decoder over 8 mirror images: one batch (the node) against one pass per image.

One 128^3 (official) or 64^3 (compact) crop is embedded once; then one click with an empty
mask prompt is decoded both ways, alternating, 5 rounds after a warm-up, 2 torch threads.
The official network has random weights (speed does not depend on their values).

Usage:  python benchmarks/decode_batch.py compact|official
Prints the median milliseconds per click of each way.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seganypet_node.model import build_sam3d_vit_b_ori
from seganypet_node.model.checkpoint import load_model
from seganypet_node.model.crop import CropGrid
from seganypet_node.model.engine import RuntimeOptions, SamEngine
from seganypet_node.model.mirrors import mirrored_points, mirrored_volume

COMPACT = Path(__file__).resolve().parents[1] / "models" / "seganypet_compact.pth"


def main() -> None:
    torch.set_num_threads(2)
    which = sys.argv[1] if len(sys.argv) > 1 else "compact"
    model = (load_model(COMPACT).model if which == "compact"
             else build_sam3d_vit_b_ori().eval())
    engine = SamEngine(model, RuntimeOptions(device="cpu", threads=2, mirror_images=8))
    size, low = engine.config.crop_size, engine.config.low_res_size
    crop = np.random.default_rng(0).gamma(2.0, 1.0, (size,) * 3).astype(np.float32)
    embedding = engine.embed(crop, CropGrid((0.0, 0.0, 0.0), size, 1.5, "RAS"))
    coords = torch.tensor([[[size / 3, size / 2, size / 2]]])
    labels = torch.tensor([[1]])
    prior = torch.zeros(1, 1, low, low, low)

    def one_pass_per_image() -> None:
        with torch.inference_mode():
            for image, axes in enumerate(engine._mirrors):
                logits, _ = engine._decode_batch(
                    embedding[image:image + 1], mirrored_points(coords, axes, size), labels,
                    mirrored_volume(prior, axes))
                mirrored_volume(logits, axes)

    def batched() -> None:
        engine.decode(embedding, coords, labels, prior)

    ways = {"one pass per image": one_pass_per_image, "one batch": batched}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():
        way()
    for _ in range(5):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            samples[name].append(time.perf_counter() - start)
    for name, seconds in samples.items():
        print(f"{which}: {name}: {1000 * statistics.median(seconds):.1f} ms per click")


if __name__ == "__main__":
    main()
