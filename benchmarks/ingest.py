"""Ingest rate of the node against dcmtk storescp and Orthanc, in the same run, alternating.

Client: dcmtk storescu, one association per series (``+sd DIR``), 400-slice 200x200 phantom PET
series. Modes: 1 association, then 4 in parallel with 4 different series. Receivers: the node
(``serve``, default durability: fsync + database row before success; workers off so only
ingest is timed), storescp (``--fork`` for the parallel mode) and Orthanc (own storage). All run
with TCP_NODELAY=1 inside one private network namespace (loopback only). A fourth receiver,
``minimal_scp.py`` (pynetdicom writing the bytes it receives, nothing else), shows the ceiling of
the network layer the node is built on. Every round starts each receiver afresh on an empty
store; the receiver order rotates between rounds.

Usage:  python benchmarks/ingest.py [--rounds 3] [--slices 400] [--matrix 200]
        python benchmarks/ingest.py --rounds 3 --series DIR   (one given series, 1 association)
Writes benchmarks/results/ingest.json (``ingest_<DIR name>.json`` with ``--series``) and prints
a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phantoms import cached_phantom  # noqa: E402

from seganypet_node.phantom.generate import PhantomSpec  # noqa: E402
from tests.peers import OrthancPeer, StorescpPeer  # noqa: E402
from tests.support import (  # noqa: E402
    NODE_AE,
    NetNamespace,
    NodeProcess,
    free_port,
    peak_rss_mb,
    start_storescu,
    write_config,
)

RESULTS = Path(__file__).resolve().parent / "results"
MINIMAL_SCP = Path(__file__).resolve().parent / "minimal_scp.py"


def make_series(count: int, slices: int, matrix: int) -> list[Path]:
    """Phantom PET series (seeds 7001+), written once and reused by later runs."""
    return [cached_phantom(f"s{seed}-{slices}-{matrix}",
                           PhantomSpec(seed=seed, slices=slices, matrix=matrix))
            for seed in range(7001, 7001 + count)]


class MinimalScp(StorescpPeer):
    """benchmarks/minimal_scp.py: pynetdicom writing the received bytes, nothing else."""

    def start(self) -> MinimalScp:
        with (self.folder.parent / f"{self.folder.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, str(MINIMAL_SCP), str(self.port),
                 str(self.folder)], stdout=log, stderr=subprocess.STDOUT)
        self._wait_listening()
        return self


class Receiver:
    """One receiver started afresh for a measurement: its port, AE title, PID, stop."""

    def __init__(self, name: str, start: Callable[[Path], tuple[int, str, Any]]) -> None:
        self.name = name
        self._start = start

    def measure(self, work: Path, ns: NetNamespace, series: list[Path]) -> dict[str, float]:
        port, ae_title, handle = self._start(work)
        try:
            seconds = send_all(ns, port, ae_title, series)
            rss = peak_rss_mb(handle.process.pid)
        finally:
            handle.stop()
        instances = sum(len(list(s.iterdir())) for s in series)
        return {"seconds": seconds, "rate": instances / seconds, "peak_rss_mb": rss}


def send_all(ns: NetNamespace, port: int, ae_title: str, series: list[Path]) -> float:
    """Wall time of one storescu per series, all in parallel; fails loudly on any error."""
    start = time.perf_counter()
    senders = [start_storescu(port, folder, called=ae_title, prefix=ns.enter())
               for folder in series]
    errors = [s.communicate()[1][-300:] for s in senders if s.wait() != 0]
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"storescu failed: {errors}")
    return seconds


def receivers(ns: NetNamespace, parallel: bool) -> list[Receiver]:
    def node(work: Path) -> tuple[int, str, Any]:
        port = free_port()
        config = write_config(work / "node.toml", work / "node", port)
        process = NodeProcess(config, work / "node", port, work / "node.log", ns.enter())
        return port, NODE_AE, process.start()

    def storescp(work: Path) -> tuple[int, str, Any]:
        peer = StorescpPeer(work / "storescp", ns.enter(), "STORESCP",
                            ("--fork",) if parallel else ())
        return peer.port, peer.ae_title, peer.start()

    def orthanc(work: Path) -> tuple[int, str, Any]:
        peer = OrthancPeer(work / "orthanc", ns.enter(), None).start()
        return peer.dicom_port, peer.ae_title, peer

    def minimal(work: Path) -> tuple[int, str, Any]:
        peer = MinimalScp(work / "minimal", ns.enter(), "MINIMAL").start()
        return peer.port, peer.ae_title, peer

    return [Receiver("node", node), Receiver("storescp", storescp),
            Receiver("orthanc", orthanc), Receiver("pynetdicom-minimal", minimal)]


def run(rounds: int, series: list[Path]) -> dict[str, Any]:
    ns = NetNamespace()
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    modes = [("1 association", series[:1])] + ([("4 parallel", series[:4])]
                                               if len(series) >= 4 else [])
    try:
        for mode, chosen in modes:
            peers = receivers(ns, parallel=len(chosen) > 1)
            for r in range(rounds):
                order = peers[r % len(peers):] + peers[:r % len(peers)]
                for receiver in order:
                    with tempfile.TemporaryDirectory() as work:
                        result = receiver.measure(Path(work), ns, chosen)
                    samples.setdefault(mode, {}).setdefault(receiver.name, []).append(result)
                    print(f"{mode:<14} round {r + 1} {receiver.name:<18} "
                          f"{result['rate']:7.0f} instances/s", file=sys.stderr)
    finally:
        ns.stop()
    return samples


def table(samples: dict[str, Any], instance_mb: float) -> str:
    lines = ["| mode | receiver | median instances/s | MB/s | node / receiver | peak RSS MB "
             "| rounds |", "|---|---|---|---|---|---|---|"]
    for mode, by_receiver in samples.items():
        node_rate = statistics.median(s["rate"] for s in by_receiver["node"])
        for name, runs in by_receiver.items():
            rate = statistics.median(s["rate"] for s in runs)
            rss = max(s["peak_rss_mb"] for s in runs)
            lines.append(f"| {mode} | {name} | {rate:.0f} | {rate * instance_mb:.0f} | "
                         f"{node_rate / rate:.2f} | {rss:.0f} | {len(runs)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--matrix", type=int, default=200)
    parser.add_argument("--series", type=Path,
                        help="one series folder instead of the phantoms (1 association only)")
    args = parser.parse_args()
    series = [args.series] if args.series else make_series(4, args.slices, args.matrix)
    files = list(series[0].iterdir())
    instance_mb = sum(f.stat().st_size for f in files) / len(files) / 1e6
    samples = run(args.rounds, series)
    RESULTS.mkdir(exist_ok=True)
    record = {"command": " ".join(sys.argv), "series": [str(s) for s in series],
              "instance_mb": instance_mb, "samples": samples,
              "table": table(samples, instance_mb)}
    name = f"ingest_{args.series.parent.name}.json" if args.series else "ingest.json"
    (RESULTS / name).write_text(json.dumps(record, indent=2) + "\n")
    print(record["table"])


if __name__ == "__main__":
    main()
