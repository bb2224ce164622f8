"""Node memory while many peers send the largest data sets it allows, and larger ones.

Starts ``seganypet-node serve`` (workers off) with ``[node] max_dataset_mb = --cap-mb`` and
``max_associations = --peers``. Phase 1: ``--peers`` pynetdicom SCUs at once, each sending one
instance just under the cap (stored). Phase 2: as many, each sending an instance of four
times the cap (refused with 0xA700 as it arrives). Records the node's peak RSS (VmHWM) and
its RSS after each phase, with the machine's load average.

Usage:  python benchmarks/big_instances.py [--peers 16] [--cap-mb 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pydicom  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402
from pynetdicom import AE  # noqa: E402

from seganypet_node.dicom.sop import PET_IMAGE_STORAGE  # noqa: E402
from seganypet_node.phantom.generate import PhantomSpec, generate  # noqa: E402
from tests.support import NODE_AE, NodeProcess, free_port, peak_rss_mb, write_config  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "big_instances.json"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(pid)


def instance(template: pydicom.Dataset, megabytes: float) -> pydicom.Dataset:
    """A PET instance whose pixel data is ``megabytes`` MiB (16-bit, 4096 columns)."""
    ds = pydicom.Dataset()
    ds.update(template)
    ds.file_meta = template.file_meta
    rows = max(1, int(megabytes * 1024 * 1024 / (4096 * 2)))  # Rows is US: at most 65535
    ds.Rows, ds.Columns = rows, 4096
    ds.PixelData = bytes(rows * 4096 * 2)
    ds.SOPInstanceUID = generate_uid()
    return ds


def send_all(port: int, datasets: list[pydicom.Dataset]) -> list[int]:
    """One association per data set, all at once; the statuses (-1: no response)."""
    statuses = [-1] * len(datasets)

    def send(k: int) -> None:
        ae = AE(ae_title=f"BIG{k:02d}")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 300
        ae.add_requested_context(PET_IMAGE_STORAGE, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AE)
        if assoc.is_established:
            response = assoc.send_c_store(datasets[k])
            statuses[k] = int(getattr(response, "Status", -1))
            assoc.release()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(datasets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=16)
    parser.add_argument("--cap-mb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        study = generate(PhantomSpec(seed=3, slices=4, matrix=32), folder / "phantom")
        template = pydicom.dcmread(study.files[0])
        phases = {}
        # Each phase on a fresh node, so that each peak is its own.
        for name, size_mb in (("under_cap", args.cap_mb - 1), ("four_times_cap", 4 * args.cap_mb)):
            phases[name] = _phase(folder / name, template, args, size_mb)
    result = {"peers": args.peers, "cap_mb": args.cap_mb, **phases,
              "load_average": os.getloadavg(), "cores": os.cpu_count()}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _phase(folder: Path, template: pydicom.Dataset, args: argparse.Namespace,
           size_mb: float) -> dict[str, object]:
    folder.mkdir()
    port = free_port()
    config = write_config(folder / "node.toml", folder / "node", port,
                          node={"max_dataset_mb": args.cap_mb,
                                "max_associations": args.peers, "network_timeout": 300})
    node = NodeProcess(config, folder / "node", port, folder / "node.log").start()
    assert node.process is not None
    pid = node.process.pid
    try:
        start_rss = rss_mb(pid)
        datasets = [instance(template, size_mb) for _ in range(args.peers)]
        started = time.monotonic()
        statuses = send_all(port, datasets)
        return {"instance_mb": size_mb, "statuses": [f"0x{s:04X}" for s in sorted(set(statuses))],
                "seconds": round(time.monotonic() - started, 1),
                "node_rss_at_start_mb": round(start_rss), "peak_rss_mb": round(peak_rss_mb(pid)),
                "rss_after_mb": round(rss_mb(pid))}
    finally:
        node.stop()


if __name__ == "__main__":
    main()
