"""CPU a node spends on one open but idle association (the price of the DUL polling interval).

Starts ``seganypet-node serve`` (workers off), measures its CPU share over ``--seconds`` with
no association, then with one idle association open (pynetdicom SCU, Verification only).

Usage:  python benchmarks/idle_association.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynetdicom import AE  # noqa: E402

from seganypet_node.dicom.pacing import ACTIVE_POLL_S, IDLE_AFTER_S, IDLE_POLL_S  # noqa: E402
from tests.support import NODE_AE, NodeProcess, free_port, write_config  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def share(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder, port = Path(work), free_port()
        config = write_config(folder / "node.toml", folder / "node", port,
                              node={"network_timeout": 600})
        node = NodeProcess(config, folder / "node", port, folder / "node.log").start()
        assert node.process is not None
        try:
            time.sleep(2)
            alone = share(node.process.pid, args.seconds)
            ae = AE(ae_title="IDLE")
            ae.add_requested_context("1.2.840.10008.1.1")
            assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AE)
            assert assoc.is_established
            time.sleep(1)
            idle = share(node.process.pid, args.seconds)
            assoc.release()
        finally:
            node.stop()
    print(f"DUL poll {ACTIVE_POLL_S * 1000:g} ms while PDUs flow, {IDLE_POLL_S * 1000:g} ms after "
          f"{IDLE_AFTER_S * 1000:g} ms idle: node CPU {alone:.1%} of a core without "
          f"associations, {idle:.1%} with one idle association open")


if __name__ == "__main__":
    main()
