"""The network layer's ceiling: a pynetdicom Storage SCP that only writes what it receives.

Same pynetdicom, same DUL polling interval and PDU size as the node, but no header checks, no
fsync and no database: the rate it reaches bounds what any receiver built on pynetdicom can do
on this machine. Used as a reference receiver by ``benchmarks/ingest.py``.

Usage:  python benchmarks/minimal_scp.py PORT FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seganypet_node.dicom.pacing import ACTIVE_POLL_S  # noqa: E402

AE_TITLE = "MINIMAL"


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)

    def on_open(event: Any) -> None:
        event.assoc.dul._run_loop_delay = ACTIVE_POLL_S

    def on_store(event: Any) -> int:
        name = str(event.request.AffectedSOPInstanceUID)
        (folder / f"{name}.dcm").write_bytes(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title=AE_TITLE)
    ae.maximum_pdu_size = 262144
    ae.maximum_associations = 16
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(str(context.abstract_syntax))
    print("minimal SCP listening", flush=True)
    ae.start_server(("127.0.0.1", port), block=True,
                    evt_handlers=[(evt.EVT_CONN_OPEN, on_open), (evt.EVT_C_STORE, on_store)])


if __name__ == "__main__":
    main()
