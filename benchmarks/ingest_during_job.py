"""Ingest rate of the node while one of its workers segments a study, against the same node idle.

The node runs one worker with the defaults (8 mirror images, 8 atlas subjects, torch threads
= cores / workers). Busy: a 380-slice 4 mm study is sent first; once its job is RUNNING and a
few seconds into it, a 400-slice 200x200 series is sent by one dcmtk storescu association
and timed (the job must still be running when the series is in). Idle: the same series into a
fresh node with nothing to do. Rounds alternate; each measurement a fresh node in one private
network namespace, stopped by PID.

Usage:  python benchmarks/ingest_during_job.py [--rounds 3] [--nice 10]
Writes benchmarks/results/ingest_during_job_niceN.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest import make_series, send_all  # noqa: E402
from phantoms import cached_phantom  # noqa: E402

from seganypet_node.db.states import JobState  # noqa: E402
from seganypet_node.phantom.generate import PhantomSpec  # noqa: E402
from tests.support import NODE_AE, NetNamespace, NodeProcess, free_port, write_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SETTLE_S = 3.0  # into the job before the series is sent: past reading, in registration


def one_measurement(ns: NetNamespace, work: Path, series: Path, study: Path | None,
                    nice: int) -> dict[str, Any]:
    """Instances per second of ``series`` into a fresh node (busy with ``study`` if given)."""
    port = free_port()
    config = write_config(work / "node.toml", work / "node", port,
                          worker={"count": 1, "nice": nice},
                          pipeline={"atlas_subjects": 8}, model={"mirror_images": 8})
    node = NodeProcess(config, work / "node", port, work / "node.log", ns.enter()).start()
    try:
        if study is not None:
            send_all(ns, port, NODE_AE, [study])
            node.wait_for_jobs({JobState.RUNNING.value})
            time.sleep(SETTLE_S)
        seconds = send_all(ns, port, NODE_AE, [series])
        still_running = study is None or any(
            j.state is JobState.RUNNING for j in node.wait_for_jobs(
                {JobState.RUNNING.value, JobState.DONE.value}))
    finally:
        node.stop()
    instances = len(list(series.iterdir()))
    return {"seconds": seconds, "rate": instances / seconds, "job_still_running": still_running}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nice", type=int, default=10, help="[worker] nice")
    args = parser.parse_args()
    series = make_series(1, 400, 200)[0]
    study = cached_phantom("bench-380-160-4", PhantomSpec(seed=9300, slices=380, matrix=160))
    ns = NetNamespace()
    samples: dict[str, list[dict[str, Any]]] = {"idle": [], "busy": []}
    try:
        for r in range(args.rounds):
            order = ("idle", "busy") if r % 2 == 0 else ("busy", "idle")
            for mode in order:
                with tempfile.TemporaryDirectory() as work:
                    result = one_measurement(ns, Path(work), series,
                                             study if mode == "busy" else None, args.nice)
                samples[mode].append(result)
                print(f"round {r + 1} {mode}: {result['rate']:.0f} instances/s", file=sys.stderr)
    finally:
        ns.stop()
    idle = statistics.median(s["rate"] for s in samples["idle"])
    busy = statistics.median(s["rate"] for s in samples["busy"])
    table = ("| node | median instances/s | vs idle | rounds |\n|---|---|---|---|\n"
             f"| idle | {idle:.0f} | 1.00 | {len(samples['idle'])} |\n"
             f"| one job running | {busy:.0f} | {busy / idle:.2f} | {len(samples['busy'])} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ingest_during_job_nice{args.nice}.json").write_text(json.dumps(
        {"command": " ".join(sys.argv), "samples": samples, "table": table,
         "date": time.strftime("%Y-%m-%d")}, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
