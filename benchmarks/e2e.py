"""End to end: from the first instance sent to the last result object received, by stage.

A 10-organ whole-body phantom study (380 slices 160x160 at 4 mm, NumberOfSlices set, so the
series completes on its count, without a quiet period) goes from dcmtk storescu to the node
(default configuration, one worker, compact model, 2 torch threads), whose SEG, SR and key
image go to a dcmtk storescp archive. All in one private network namespace, TCP_NODELAY=1.

Latency: ``--runs`` studies, each with a fresh node and archive. Stages come from the node's
database (receive, completion, queue wait, send) and the job's ``summary.json`` (read,
registration, inference per organ, SEG, SR, key image). Throughput: ``--studies`` different
studies pushed back to back (one storescu after the other) into one node; studies per hour
from the first instance sent to the last result received, and each job's queue wait.

Usage:  python benchmarks/e2e.py [--runs 3] [--studies 10]
Writes benchmarks/results/e2e.json and prints Markdown tables for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phantoms import cached_phantom  # noqa: E402
from sqlalchemy import select  # noqa: E402

from seganypet_node.db.models import Job, Outbound, Series  # noqa: E402
from seganypet_node.phantom.generate import PhantomSpec  # noqa: E402
from tests.peers import StorescpPeer  # noqa: E402
from tests.support import (  # noqa: E402
    NetNamespace,
    NodeProcess,
    free_port,
    peak_rss_mb,
    start_storescu,
    write_config,
)

RESULTS = Path(__file__).resolve().parent / "results"
OBJECTS_PER_STUDY = 3


def make_studies(count: int, slices: int, matrix: int) -> list[Path]:
    """Phantom studies (seeds 7101+), written once and reused by later runs."""
    return [cached_phantom(f"e2e-{seed}-{slices}-{matrix}",
                           PhantomSpec(seed=seed, slices=slices, matrix=matrix))
            for seed in range(7101, 7101 + count)]


class Setup:
    """A node sending to a storescp archive, both fresh, in the namespace."""

    def __init__(self, ns: NetNamespace, work: Path, threads: int) -> None:
        self.ns = ns
        self.archive = StorescpPeer(work / "archive", ns.enter(), "ARCHIVE").start()
        port = free_port()
        config = write_config(
            work / "node.toml", work / "node", port,
            worker={"count": 1}, model={"threads": threads},
            send={"to_caller": False, "destinations": [
                {"ae_title": "ARCHIVE", "host": "127.0.0.1", "port": self.archive.port}]})
        self.node = NodeProcess(config, work / "node", port, work / "node.log", ns.enter())
        self.node.start()

    def send(self, folder: Path) -> None:
        sender = start_storescu(self.node.port, folder, prefix=self.ns.enter())
        _, errors = sender.communicate()
        if sender.returncode != 0:
            raise RuntimeError(f"storescu failed: {errors[-300:]}")

    def wait_results(self, count: int, timeout_s: float) -> float:
        """Wall time (time.time) when ``count`` result objects are in the archive."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.archive.received()) >= count:
                return time.time()
            time.sleep(0.02)
        raise RuntimeError(f"{count} results not received in {timeout_s} s:\n"
                           f"{self.node.log()[-3000:]}")

    def stop(self) -> None:
        self.node.stop()
        self.archive.stop()


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float:
    if later is None or earlier is None:
        return float("nan")
    return (later - earlier).total_seconds()


def wait_all_sent(node: NodeProcess, timeout_s: float = 30) -> None:
    """The archive may hold a file a moment before the node recorded the transfer as sent."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with node.session() as s:
            if all(o.sent_at is not None for o in s.scalars(select(Outbound))):
                return
        time.sleep(0.05)
    raise RuntimeError("transfers not recorded as sent")


def job_records(node: NodeProcess) -> list[dict[str, Any]]:
    """Per job: database timestamps turned into stage seconds, plus the summary's timings."""
    wait_all_sent(node)
    records = []
    with node.session() as s:
        for job, series in s.execute(select(Job, Series).join(Series).order_by(Job.id)):
            sent = [o.sent_at for o in s.scalars(select(Outbound).where(Outbound.job_id == job.id))]
            summary = json.loads((node.job_results(job.id) / "summary.json").read_text())
            pipeline_s = sum(summary["timings_s"].values())
            records.append({
                "receive": _seconds(series.last_received_at, series.first_received_at),
                "completion wait": _seconds(series.completed_at, series.last_received_at),
                "queue wait": _seconds(job.started_at, job.created_at),
                **summary["timings_s"],
                "other job work (masks, summary, bookkeeping)":
                    _seconds(job.finished_at, job.started_at) - pipeline_s,
                "send results": _seconds(max(t for t in sent if t is not None),
                                         job.finished_at),
                "study": {"first_received": series.first_received_at.isoformat(),
                          "series_instance_uid": series.series_uid},
                "organs_found": sum(o["found"] for o in summary["organs"].values()),
            })
    return records


def latency_run(ns: NetNamespace, study: Path, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        setup = Setup(ns, Path(work), threads)
        try:
            start = time.time()
            setup.send(study)
            sent = time.time()
            end = setup.wait_results(OBJECTS_PER_STUDY, 300)
            record = job_records(setup.node)[0]
            peak = _node_peak_rss_mb(setup.node)
        finally:
            setup.stop()
    return {"total": end - start, "storescu": sent - start, "peak_rss_mb": peak, **record}


def throughput_run(ns: NetNamespace, studies: list[Path], threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        setup = Setup(ns, Path(work), threads)
        try:
            start = time.time()
            for study in studies:
                setup.send(study)
            end = setup.wait_results(OBJECTS_PER_STUDY * len(studies), 120 * len(studies))
            records = job_records(setup.node)
            peak = _node_peak_rss_mb(setup.node)
        finally:
            setup.stop()
    total = end - start
    return {"studies": len(studies), "seconds": total,
            "studies_per_hour": len(studies) * 3600 / total,
            "queue_wait_s": [r["queue wait"] for r in records], "peak_rss_mb": peak}


def _node_peak_rss_mb(node: NodeProcess) -> float:
    assert node.process is not None
    return peak_rss_mb(node.process.pid)


def latency_table(runs: list[dict[str, Any]]) -> str:
    skip = {"organs_found", "peak_rss_mb", "total", "storescu", "study"}
    stages = [k for k in runs[0] if k not in skip]
    lines = ["| stage | median s |", "|---|---|"]
    lines += [f"| {stage} | {statistics.median(r[stage] for r in runs):.2f} |"
              for stage in stages]
    lines.append(f"| storescu running (overlaps receive) | "
                 f"{statistics.median(r['storescu'] for r in runs):.2f} |")
    total = statistics.median(r["total"] for r in runs)
    lines.append(f"| **first instance sent to last result received** | **{total:.2f}** |")
    lines.append(f"| organs found | {min(r['organs_found'] for r in runs)} of 10 |")
    lines.append(f"| node peak RSS MB | {max(r['peak_rss_mb'] for r in runs):.0f} |")
    return "\n".join(lines)


def throughput_table(result: dict[str, Any]) -> str:
    waits = result["queue_wait_s"]
    return "\n".join([
        "| studies | seconds | studies per hour | queue wait median / max s | peak RSS MB |",
        "|---|---|---|---|---|",
        f"| {result['studies']} | {result['seconds']:.1f} | {result['studies_per_hour']:.0f} | "
        f"{statistics.median(waits):.1f} / {max(waits):.1f} | {result['peak_rss_mb']:.0f} |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--slices", type=int, default=380)
    parser.add_argument("--matrix", type=int, default=160)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    studies = make_studies(max(args.studies, 1), args.slices, args.matrix)
    ns = NetNamespace()
    try:
        runs = []
        for k in range(args.runs):
            runs.append(latency_run(ns, studies[k % len(studies)], args.threads))
            print(f"run {k + 1}: {runs[-1]['total']:.1f} s", file=sys.stderr)
        throughput = throughput_run(ns, studies[:args.studies], args.threads)
    finally:
        ns.stop()
    RESULTS.mkdir(exist_ok=True)
    record = {"command": " ".join(sys.argv), "runs": runs, "throughput": throughput,
              "latency_table": latency_table(runs),
              "throughput_table": throughput_table(throughput)}
    (RESULTS / "e2e.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record["latency_table"])
    print()
    print(record["throughput_table"])


if __name__ == "__main__":
    main()
