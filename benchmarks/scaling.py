"""Scaling curve: time and peak memory of one study as the axial extent grows and voxels shrink.

Extent: 150, 300 and 600 slices of 160x160 at 4 mm. Voxel size: the same field of view
(300 slices of 160x160 at 4 mm, i.e. 1200 mm and 640 mm) at 4, 3 and 2 mm. Clinical: a
2 mm study of 900 slices of 360x360 (1800 x 720 mm, as issue 23 measured), with each stage's
time. Two workers: two 4 mm studies side by side in two processes with the torch threads the
node gives two workers (``[model] threads = 0``: cores / 2), against the same two one after
the other with all cores. Each point is one
study through the whole automatic pipeline (``pipeline_bench.py --child``: read, register,
ten organs, measurements, SEG/SR/key image) in its own process, median of ``--runs``; the
phantoms are written once and cached. Cost should grow no faster than the voxel count and
memory stay bounded: the model works on 4 mm crops, never the whole body at model spacing.

Usage:  python benchmarks/scaling.py [--runs 1]
Writes benchmarks/results/scaling.json, benchmarks/scaling.png and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from phantoms import cached_phantom

from seganypet_node.phantom.generate import PhantomSpec

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FOV_SLICES, FOV_MATRIX, FOV_VOXEL = 300, 160, 4.0
POINTS = [  # (sweep, slices, matrix, voxel mm)
    ("extent", 150, 160, 4.0), ("extent", 300, 160, 4.0), ("extent", 600, 160, 4.0),
    ("voxel", 300, 160, 4.0), ("voxel", 400, 213, 3.0), ("voxel", 600, 320, 2.0),
    ("clinical", 900, 360, 2.0),
]


def study(slices: int, matrix: int, voxel_mm: float) -> Path:
    return cached_phantom(f"scaling-{slices}-{matrix}-{voxel_mm:g}", PhantomSpec(
        seed=9400, slices=slices, matrix=matrix, voxel_mm=voxel_mm))


def child_command(dicom: Path, out: str, threads: int) -> list[str]:
    """``pipeline_bench.py --child`` on one study, compact model on the CPU."""
    return [sys.executable, str(HERE / "pipeline_bench.py"), "--threads", str(threads),
            "--child", str(dicom), out, json.dumps({"device": "cpu"})]


def measure(dicom: Path, runs: int, threads: int) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            child = subprocess.run(child_command(dicom, out, threads), capture_output=True,
                                   text=True, check=True)
        samples.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(s["study_total"] for s in samples),
            "stages": {k: statistics.median(s["stages"][k] for s in samples)
                       for k in samples[0]["stages"]},
            "peak_rss_mb": max(s["peak_rss_mb"] for s in samples),
            "organs_found": min(s["organs_found"] for s in samples),
            "samples": samples}


def two_workers(dicom: Path, threads: int) -> dict[str, Any]:
    """Wall time of two studies side by side (threads / 2 each) and one after the other."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        for k in range(2):
            subprocess.run(child_command(dicom, f"{out}/serial{k}", threads),
                           capture_output=True, check=True)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        children = [subprocess.Popen(child_command(dicom, f"{out}/parallel{k}",
                                                   max(1, threads // 2)),
                                     stdout=subprocess.PIPE, text=True) for k in range(2)]
        outputs = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
        parallel = time.perf_counter() - start
    return {"serial_s": serial, "parallel_s": parallel,
            "parallel_study_s": [o["study_total"] for o in outputs],
            "parallel_peak_rss_mb": [o["peak_rss_mb"] for o in outputs]}


def table(points: list[dict[str, Any]]) -> str:
    base = {p["sweep"]: p for p in points if p["slices"] == FOV_SLICES and p["voxel_mm"] == 4}
    base["clinical"] = base["voxel"]
    lines = ["| sweep | slices x matrix^2 | voxel mm | Mvoxels | median s | s per Mvoxel | "
             "time / volume vs 300x160^2 | peak RSS MB | organs found |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        ref = base[p["sweep"]]
        growth = (p["seconds"] / ref["seconds"]) / (p["mvoxels"] / ref["mvoxels"])
        lines.append(f"| {p['sweep']} | {p['slices']}x{p['matrix']}^2 | {p['voxel_mm']:g} | "
                     f"{p['mvoxels']:.1f} | {p['seconds']:.2f} | "
                     f"{p['seconds'] / p['mvoxels']:.2f} | {growth:.2f} | "
                     f"{p['peak_rss_mb']:.0f} | {p['organs_found']} |")
    return "\n".join(lines)


def stage_table(point: dict[str, Any]) -> str:
    lines = [f"| stage ({point['slices']}x{point['matrix']}^2 at {point['voxel_mm']:g} mm) "
             "| median s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in point["stages"].items()]
    return "\n".join(lines)


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for sweep, marker in (("extent", "o"), ("voxel", "s"), ("clinical", "^")):
        chosen = [p for p in points if p["sweep"] == sweep]
        x = [p["mvoxels"] for p in chosen]
        label = {"extent": "axial extent (4 mm)", "voxel": "voxel size (same FOV)",
                 "clinical": "2 mm, 900 x 360^2"}[sweep]
        time_ax.plot(x, [p["seconds"] for p in chosen], marker=marker, label=label)
        mem_ax.plot(x, [p["peak_rss_mb"] for p in chosen], marker=marker, label=label)
        for p in chosen:
            note = f"{p['slices']} slices" if sweep == "extent" else f"{p['voxel_mm']:g} mm"
            below = sweep == "extent"
            time_ax.annotate(note, (p["mvoxels"], p["seconds"]), fontsize=8,
                             textcoords="offset points", xytext=(4, -12 if below else 6))
    ref = min(points, key=lambda p: p["mvoxels"])
    xs = [ref["mvoxels"], max(p["mvoxels"] for p in points)]
    time_ax.plot(xs, [ref["seconds"] * x / ref["mvoxels"] for x in xs], "k:",
                 label="proportional to volume")
    time_ax.set(xlabel="voxels in the series (millions)", ylabel="study time s (median)",
                title="Time per study, 2 CPU threads")
    mem_ax.set(xlabel="voxels in the series (millions)", ylabel="peak RSS MB",
               title="Peak memory of the process")
    for ax in (time_ax, mem_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replot() -> None:
    """Redraw the PNG from the last results without measuring again."""
    points = json.loads((RESULTS / "scaling.json").read_text())["points"]
    plot(points, HERE / "scaling.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG")
    args = parser.parse_args()
    if args.replot:
        replot()
        return
    points = []
    for sweep, slices, matrix, voxel in POINTS:
        result = measure(study(slices, matrix, voxel), args.runs, args.threads)
        points.append({"sweep": sweep, "slices": slices, "matrix": matrix, "voxel_mm": voxel,
                       "mvoxels": slices * matrix * matrix / 1e6, **result})
        print(f"{sweep}: {slices}x{matrix}^2 at {voxel:g} mm: {result['seconds']:.1f} s, "
              f"{result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    pair = two_workers(study(*POINTS[3][1:]), args.threads)
    print(f"two workers: side by side {pair['parallel_s']:.1f} s, one after the other "
          f"{pair['serial_s']:.1f} s", file=sys.stderr)
    clinical = next(p for p in points if p["sweep"] == "clinical")
    RESULTS.mkdir(exist_ok=True)
    record = {"command": " ".join(sys.argv), "points": points, "two_workers": pair,
              "table": table(points) + "\n\n" + stage_table(clinical)}
    (RESULTS / "scaling.json").write_text(json.dumps(record, indent=2) + "\n")
    plot(points, HERE / "scaling.png")
    print(record["table"])


if __name__ == "__main__":
    main()
