"""Peak RSS of each stage of one study (where the memory of a large study goes).

A thread samples the process's RSS (``/proc/self/status``) every 20 ms and charges it to the
innermost labelled stage running at that moment (read, SUV image, registration, inference,
organ clean-up, plausibility, lesions, SEG, SR, saving, masks and summary; anything else is
"other"). One study of ``pipeline_bench.py --child``, default configuration, compact model.

Usage:  python benchmarks/stage_memory.py [--slices 900 --matrix 360 --voxel-mm 2]
Writes benchmarks/results/stage_memory.json (``stage_memory_<slices>x<matrix>.json`` for
another size) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phantoms import cached_phantom
from pipeline_bench import peak_rss_mb

from seganypet_node.phantom.generate import PhantomSpec

HERE = Path(__file__).resolve().parent
STAGES = [  # (module, attribute, label)
    ("seganypet_node.imaging.volume", "load_input", "read series"),
    ("seganypet_node.pipeline.run", "suv_like", "SUV image"),
    ("seganypet_node.pipeline.run", "register_normalised", "registration to the mean atlas"),
    ("seganypet_node.pipeline.run", "patient_landmarks", "registration to the subjects"),
    ("seganypet_node.pipeline.run:OrganPipeline", "_segment", "inference"),
    ("seganypet_node.pipeline.run:OrganPipeline", "_results", "organ clean-up and uptake"),
    ("seganypet_node.pipeline.run", "checked_results", "plausibility"),
    ("seganypet_node.pipeline.run", "lesion_stage", "lesions"),
    ("seganypet_node.outputs.dicom_results", "build_segmentation", "building SEG"),
    ("seganypet_node.outputs.dicom_results", "build_report", "building SR"),
    ("seganypet_node.outputs.dicom_results", "_save", "writing DICOM files"),
    ("seganypet_node.outputs.folder", "write_results", "masks and summary"),
]


class StageMemory:
    """Peak RSS (MB) per labelled stage, from a sampling thread."""

    def __init__(self) -> None:
        self.running = ["other"]
        self.peaks: dict[str, float] = {}
        threading.Thread(target=self._sample, daemon=True).start()

    def label(self, owner: Any, name: str, tag: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def labelled(*args: Any, **kwargs: Any) -> Any:
            self.running.append(tag)
            try:
                return original(*args, **kwargs)
            finally:
                self.running.pop()
        setattr(owner, name, labelled)

    def _sample(self) -> None:
        while True:
            stage = self.running[-1]
            self.peaks[stage] = max(self.peaks.get(stage, 0.0), peak_rss_mb("VmRSS"))
            time.sleep(0.02)


def main() -> None:
    import importlib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=900)
    parser.add_argument("--matrix", type=int, default=360)
    parser.add_argument("--voxel-mm", type=float, default=2.0)
    args = parser.parse_args()
    dicom = cached_phantom(f"scaling-{args.slices}-{args.matrix}-{args.voxel_mm:g}", PhantomSpec(
        seed=9400, slices=args.slices, matrix=args.matrix, voxel_mm=args.voxel_mm))
    # The phantom may just have been written by this process: its peak is not the study's.
    Path("/proc/self/clear_refs").write_text("5\n")  # resets VmHWM (Linux)
    memory = StageMemory()
    for where, name, tag in STAGES:
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        memory.label(getattr(owner, cls) if cls else owner, name, tag)
    from pipeline_bench import one_run  # after the labels: it imports the stages' modules

    with tempfile.TemporaryDirectory() as out:
        run = one_run(dicom, Path(out), 2, {"device": "cpu"})
    order = [tag for _, _, tag in STAGES] + ["other"]
    record: dict[str, Any] = {"study": f"{args.slices}x{args.matrix}^2 at {args.voxel_mm:g} mm",
              "study_total_s": run["study_total"], "peak_rss_mb": run["peak_rss_mb"],
              "stages_peak_rss_mb": {t: memory.peaks[t] for t in order if t in memory.peaks}}
    (HERE / "results").mkdir(exist_ok=True)
    default = (args.slices, args.matrix, args.voxel_mm) == (900, 360, 2.0)
    name = "stage_memory.json" if default else f"stage_memory_{args.slices}x{args.matrix}.json"
    (HERE / "results" / name).write_text(json.dumps(record, indent=2) + "\n")
    print(f"| stage ({record['study']}) | peak RSS MB |\n|---|---|")
    for tag, peak in record["stages_peak_rss_mb"].items():
        print(f"| {tag} | {peak:.0f} |")
    print(f"| **whole study** ({run['study_total']:.1f} s) | {run['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
