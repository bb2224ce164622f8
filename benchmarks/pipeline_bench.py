"""Time one whole-body study through the automatic pipeline, stage by stage, on this machine.

A phantom PET series (DICOM, written once) goes through what a node job does: read the
series, register to the atlas and check the prompts, SegAnyPET for each organ, clean-up and
measurements, writing masks and summary. Each run is its own process (cold caches, its own
peak RSS); the table gives medians over the runs.

Usage:  python benchmarks/pipeline_bench.py [--runs 3] [--slices 380] [--threads 2]
Writes benchmarks/results/pipeline_bench.json and prints a Markdown table for RESULTS.md.
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


def one_run(dicom_dir: Path, out: Path, threads: int) -> dict[str, object]:
    from seganypet_node.config import load_config
    from seganypet_node.imaging.volume import load_input
    from seganypet_node.outputs.folder import segment_to_folder
    from seganypet_node.pipeline import pipeline_from_config

    config = load_config(None, environ={}).with_overrides("model", threads=threads)
    start = time.perf_counter()
    pipeline = pipeline_from_config(config)
    model_s = time.perf_counter() - start
    start = time.perf_counter()
    volume = load_input([dicom_dir])
    read_s = time.perf_counter() - start
    result = segment_to_folder(pipeline, volume, out, {"benchmark": True}).result
    stages = {"load model and atlas": model_s, "read series": read_s, **dict(result.timings)}
    inference = sum(v for k, v in stages.items() if k.startswith("inference "))
    return {"stages": stages, "inference_total": inference,
            "study_total": sum(v for k, v in stages.items() if k != "load model and atlas"),
            "organs_found": sum(o.found for o in result.organs),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "size": list(volume.values.GetSize())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=380)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("DICOM", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(Path(args.child[0]), Path(args.child[1]), args.threads)))
        return
    from seganypet_node.phantom.generate import PhantomSpec, generate

    with tempfile.TemporaryDirectory() as work:
        study = generate(PhantomSpec(seed=9300, slices=args.slices, matrix=160),
                         Path(work) / "study")
        runs = []
        for k in range(args.runs):
            child = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--child",
                 str(study.dicom_dir), str(Path(work) / f"out{k}")],
                capture_output=True, text=True, check=True)
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"run {k + 1}/{args.runs}: {runs[-1]['study_total']:.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    record = {"machine": platform.platform(), "threads": args.threads, "slices": args.slices,
              "runs": runs, "date": time.strftime("%Y-%m-%d")}
    (RESULTS / "pipeline_bench.json").write_text(json.dumps(record, indent=2) + "\n")
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
    return "\n".join(lines)


if __name__ == "__main__":
    main()
