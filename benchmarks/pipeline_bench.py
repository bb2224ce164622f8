"""Time one whole-body study through the automatic pipeline, stage by stage, on this machine.

A phantom PET series (DICOM, written once) goes through what a node job does: read the
series, register to the atlas and check the prompts, SegAnyPET for each organ, clean-up and
measurements, writing masks and summary. Each run is its own process (cold caches, its own
peak RSS); the table gives medians over the runs.

With ``--official`` the network is the official configuration ('vit_b_ori', 128^3 crops at
1.5 mm, the authors' relative-position bias) with random weights written in the release's
layout (``model_state_dict``) to a temporary file: the official weights cannot be downloaded
here, and time and memory do not depend on their values (the masks do). ``--mirror-images``
sets ``[model] mirror_images`` (default: the config's). Encoder passes are counted per crop
and per image (a crop with 8 mirror images is one batched pass of 8 images).

Usage:  python benchmarks/pipeline_bench.py [--runs 3] [--slices 380] [--threads 2]
            [--official] [--mirror-images N] [--device cpu|cuda] [--autocast none|fp16|bf16]
Writes benchmarks/results/pipeline_bench.json (``pipeline_bench_official_mN.json`` with
``--official``) and prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(dicom_dir: Path, out: Path, threads: int,
            model: dict[str, Any]) -> dict[str, object]:
    from seganypet_node.config import load_config
    from seganypet_node.imaging.volume import load_input
    from seganypet_node.outputs.folder import write_folder
    from seganypet_node.pipeline import RunSource, pipeline_from_config
    from seganypet_node.pipeline.timings import Stage

    config = load_config(None, environ={}).with_overrides("model", threads=threads, **model)
    start = time.perf_counter()
    pipeline = pipeline_from_config(config)
    model_s = time.perf_counter() - start
    passes = count_encoder_passes(pipeline)
    start = time.perf_counter()
    volume = load_input([dicom_dir])
    read_s = time.perf_counter() - start
    result = write_folder(pipeline.run(volume), volume, out,
                          RunSource(files=(str(dicom_dir),))).result
    stages = {Stage.LOAD.value: model_s, Stage.READ_SERIES.value: read_s,
              **dict(result.timings)}
    inference = sum(v for k, v in stages.items() if k.startswith(Stage.INFERENCE.of("")))
    return {"stages": stages, "inference_total": inference,
            "study_total": sum(v for k, v in stages.items() if k != Stage.LOAD),
            "organs_found": sum(o.found for o in result.organs),
            "encoder_crops": passes["crops"], "encoder_images": passes["images"],
            "peak_rss_mb": peak_rss_mb(),
            "size": list(volume.values.GetSize())}


def peak_rss_mb(field: str = "VmHWM") -> float:
    """This process's peak RSS (VmHWM; ``field="VmRSS"``: the current one) in MB.

    Not ``ru_maxrss``: Linux keeps that across fork and exec, so a child of a parent that
    once held more (a benchmark that wrote a large phantom in-process) reported the parent's
    peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_encoder_passes(pipeline: Any) -> dict[str, int]:
    """Count image-encoder calls (crops) and the images in them, as the study runs."""
    counts = {"crops": 0, "images": 0}

    def hook(module: Any, inputs: Any, output: Any) -> None:
        counts["crops"] += 1
        counts["images"] += int(inputs[0].shape[0])

    pipeline.predictor.engine.model.image_encoder.register_forward_hook(hook)
    return counts


def write_official_checkpoint(path: Path) -> None:
    """Random 'vit_b_ori' weights in the release's layout."""
    import torch

    from seganypet_node.model import build_sam3d_vit_b_ori

    torch.manual_seed(0)
    model = build_sam3d_vit_b_ori()
    with torch.no_grad():  # non-zero relative tables, as trained weights have
        for name, parameter in model.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    torch.save({"model_state_dict": model.state_dict()}, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=380)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--official", action="store_true")
    parser.add_argument("--mirror-images", type=int)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", default="none", choices=("none", "fp16", "bf16"))
    parser.add_argument("--child", nargs=3, metavar=("DICOM", "OUT", "MODEL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(Path(args.child[0]), Path(args.child[1]), args.threads,
                                 json.loads(args.child[2]))))
        return
    from seganypet_node.phantom.generate import PhantomSpec, generate

    model: dict[str, Any] = {"device": args.device, "autocast": args.autocast}
    if args.mirror_images is not None:
        model["mirror_images"] = args.mirror_images
    with tempfile.TemporaryDirectory() as work:
        if args.official:
            model["checkpoint"] = str(Path(work) / "seganypet_v1.pth")
            write_official_checkpoint(Path(model["checkpoint"]))
        study = generate(PhantomSpec(seed=9300, slices=args.slices, matrix=160),
                         Path(work) / "study")
        runs = []
        for k in range(args.runs):
            child = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--child",
                 str(study.dicom_dir), str(Path(work) / f"out{k}"), json.dumps(model)],
                capture_output=True, text=True, check=False)
            if child.returncode:
                raise SystemExit(f"run {k + 1} failed:\n{child.stderr}")
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"run {k + 1}/{args.runs}: {runs[-1]['study_total']:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    model.pop("checkpoint", None)
    record = {"machine": platform.platform(), "threads": args.threads, "slices": args.slices,
              "official": args.official, "model": model, "runs": runs,
              "date": time.strftime("%Y-%m-%d")}
    name = (f"pipeline_bench_official_m{args.mirror_images or 'default'}.json" if args.official
            else "pipeline_bench.json")
    (RESULTS / name).write_text(json.dumps(record, indent=2) + "\n")
    print(table(runs))


def table(runs: list[dict[str, Any]]) -> str:
    stages = list(runs[0]["stages"])
    lines = ["| stage | median s |", "|---|---|"]
    for stage in stages:
        lines.append(f"| {stage} | {statistics.median(r['stages'][stage] for r in runs):.2f} |")
    for key, label in (("inference_total", "all ten organs (inference)"),
                       ("study_total", "**study total (read to results written)**")):
        lines.append(f"| {label} | {statistics.median(r[key] for r in runs):.2f} |")
    lines.append(f"| peak RSS MB | {statistics.median(r['peak_rss_mb'] for r in runs):.0f} |")
    if "encoder_crops" in runs[0]:
        lines.append(f"| encoder passes: crops / images | {runs[0]['encoder_crops']} / "
                     f"{runs[0]['encoder_images']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
