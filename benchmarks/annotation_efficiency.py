"""Annotation efficiency of the review page's correction loop on held-out phantoms.

After the automatic run, a simulated reader corrects every organ and lesion with clicks at
the deepest voxel of the largest error region, through the same draft the review page uses
(:mod:`seganypet_node.evaluation.annotation`). Reported per organ and for lesions: mean Dice
after 0, 1, 2, 3, 5 and 10 clicks, median clicks to Dice 0.9 (and how many findings never got
there), and seconds per click (the whole step: the decoder pass on a cached or new crop, the
paste and the mask update; the figures are measured again separately when a page asks).

Usage:  python benchmarks/annotation_efficiency.py [--typical 4] [--hard 2] [--clicks 10]
Writes benchmarks/results/annotation_efficiency.json and prints a Markdown table for
RESULTS.md. Run it on a quiet machine: the seconds per click are only meaningful then.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from dataclasses import asdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--typical", type=int, default=4)
    parser.add_argument("--hard", type=int, default=2)
    parser.add_argument("--clicks", type=int, default=10)
    args = parser.parse_args()

    from seganypet_node.config import load_config
    from seganypet_node.evaluation.annotation import (
        annotation_specs,
        correct_study,
        summary_rows,
    )
    from seganypet_node.pipeline import pipeline_from_config
    load_before = os.getloadavg()
    pipeline = pipeline_from_config(load_config(None, environ={}), cache_size=64)
    traces, rejected, missing = [], 0, []
    start = time.perf_counter()
    for name, spec in annotation_specs(args.typical, args.hard):
        outcome = correct_study(pipeline, name, spec, args.clicks)
        traces += outcome.traces
        rejected += outcome.rejected_false_lesions
        missing += [f"{name}: {organ}" for organ in outcome.organs_not_found]
    rows = summary_rows(traces)
    clicks_s = sorted(s for t in traces for s in t.seconds)
    record = {
        "rows": rows, "traces": [asdict(t) for t in traces],
        "false_lesions_rejected": rejected, "organs_not_found": missing,
        "seconds_per_click": {
            "median": round(statistics.median(clicks_s), 3),
            "p90": round(clicks_s[int(0.9 * (len(clicks_s) - 1))], 3),
            "max": round(clicks_s[-1], 3), "clicks": len(clicks_s)},
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": {"cores": os.cpu_count(), "load_before": load_before,
                    "load_after": os.getloadavg(), "python": platform.python_version()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "annotation_efficiency.json").write_text(json.dumps(record, indent=1) + "\n")
    print(table(rows, record))


def table(rows: list[dict], record: dict) -> str:
    head = ("| target | findings | Dice 0 | 1 | 2 | 3 | 5 | 10 clicks | median clicks to 0.9 "
            "| never 0.9 | median s/click |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['target']} | {r['findings']} | " + " | ".join(
            f"{r[f'dice_{n}']:.3f}" for n in (0, 1, 2, 3, 5, 10)) +
            f" | {r['median_clicks_to_0.9'] if r['median_clicks_to_0.9'] is not None else '-'}"
            f" | {r['never_0.9']} | {r['median_s_per_click']} |")
    s = record["seconds_per_click"]
    lines.append("")
    lines.append(f"Seconds per click over {s['clicks']} clicks: median {s['median']}, "
                 f"90th percentile {s['p90']}, max {s['max']}; {record['false_lesions_rejected']}"
                 f" false lesion(s) rejected (one click each); organs not found by the run "
                 f"(no finding to correct): {', '.join(record['organs_not_found']) or 'none'}; "
                 f"peak RSS {record['peak_rss_mb']} MB; load before/after "
                 f"{record['machine']['load_before'][0]:.2f}/"
                 f"{record['machine']['load_after'][0]:.2f} on {record['machine']['cores']} cores.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
