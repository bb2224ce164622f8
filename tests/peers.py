"""Real DICOM peers run in a private network namespace: Orthanc, storescp (tests, benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import (
    NodeProcess,
    dcmtk_env,
    find_dcmtk,
    free_port,
    stop_process,
    storescu,
    wait_for,
)

# SendToModality() takes an instance; a whole series goes over one association through the
# REST route /modalities/{name}/store.
ROUTE_PET_TO_NODE = """
function OnStableSeries(seriesId, tags, metadata)
  if tags['Modality'] == 'PT' then
    RestApiPost('/modalities/node/store', seriesId)
  end
end
"""
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"  # Debian orthanc-dicomweb
RESULT_MODALITIES = {"SEG", "SR", "OT"}  # the key image is a Secondary Capture ("OT")
FETCH = ("import sys, urllib.request; "
         "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())")


class OrthancPeer:
    """An Orthanc PACS with its own storage, routing every stable PET series to the node.

    Parameters
    ----------
    folder : Path
        Where its configuration, Lua script, storage and log go.
    prefix : tuple of str
        Command prefix that runs it inside the test's network namespace.
    node : tuple of (str, int)
        AE title and port of the node it routes PET series to.
    dicomweb : bool
        Load the DICOMweb plugin (root ``/dicom-web/``), for viewers.
    """

    def __init__(self, folder: Path, prefix: tuple[str, ...], node: tuple[str, int] | None,
                 ae_title: str = "ORTHANC", dicomweb: bool = False) -> None:
        self.folder = folder
        self.prefix = prefix
        self.ae_title = ae_title
        self.dicom_port = free_port()
        self.http_port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "route.lua").write_text(ROUTE_PET_TO_NODE if node else "")
        config = {
            "Name": "test-pacs", "DicomAet": ae_title, "DicomPort": self.dicom_port,
            "HttpPort": self.http_port, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"), "StableAge": 2,
            "LuaScripts": [str(folder / "route.lua")], "DicomCheckCalledAet": False,
            "DicomModalities": {"node": [node[0], "127.0.0.1", node[1]]} if node else {},
            "Plugins": [DICOMWEB_PLUGIN] if dicomweb else [],
            "DicomWeb": {"Enable": dicomweb, "Root": "/dicom-web/", "EnableWado": True},
            "DicomAlwaysAllowStore": True, "DicomScuTimeout": 30,
        }
        (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
        self.log_path = folder / "orthanc.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> OrthancPeer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, "Orthanc", str(self.folder / "orthanc.json")],
                stdout=log, stderr=subprocess.STDOUT, env=dcmtk_env())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited:\n{self.log_path.read_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except RuntimeError:
                time.sleep(0.3)
        raise RuntimeError(f"Orthanc not up:\n{self.log_path.read_text()[-2000:]}")

    def get(self, path: str) -> Any:
        """GET a REST resource (from inside the namespace) and decode its JSON."""
        done = subprocess.run([*self.prefix, sys.executable, "-c", FETCH,
                               f"http://127.0.0.1:{self.http_port}{path}"],
                              capture_output=True, text=True, check=False, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-500:])
        return json.loads(done.stdout)

    def series_by_modality(self) -> dict[str, list[dict[str, Any]]]:
        """Every series Orthanc holds, grouped by modality."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for series in self.get("/series?expand"):
            grouped.setdefault(series["MainDicomTags"].get("Modality", ""), []).append(series)
        return grouped

    def stop(self) -> None:
        stop_process(self.process)


class StorescpPeer:
    """dcmtk storescp writing every received object into a folder (restartable)."""

    def __init__(self, folder: Path, prefix: tuple[str, ...], ae_title: str = "ARCHIVE",
                 extra: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.prefix = prefix
        self.ae_title = ae_title
        self.port = free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        tool = find_dcmtk("storescp")
        assert tool, "dcmtk storescp not installed"
        self.tool = tool

    def start(self) -> StorescpPeer:
        with (self.folder.parent / f"{self.folder.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, self.tool, "-aet", self.ae_title, "-od", str(self.folder),
                 "+uf", *self.extra, str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=dcmtk_env())
        self._wait_listening()
        return self

    def _wait_listening(self, timeout_s: float = 15.0) -> None:
        echo = find_dcmtk("echoscu")
        assert echo
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            probe = subprocess.run([*self.prefix, echo, "-aec", self.ae_title, "127.0.0.1",
                                    str(self.port)], capture_output=True, env=dcmtk_env(),
                                   check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("storescp did not come up")

    def received(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def stop(self) -> None:
        stop_process(self.process)


def route_study_through(orthanc: OrthancPeer, start_node: Callable[..., NodeProcess],
                        node_port: int, dicom_dir: Path) -> tuple[NodeProcess, Any]:
    """A modality sends ``dicom_dir`` to Orthanc, Orthanc routes it to a node started here
    (results go back to Orthanc), and the node's job and its three result series are awaited.

    Returns the node and its finished job. ``orthanc`` must be started, with routing to
    ``(NODE_AE, node_port)``.
    """
    node = start_node(
        port=node_port, prefix=orthanc.prefix,
        worker={"count": 1, "poll_interval_s": 0.2},
        access={"allowed_callers": [{"ae_title": orthanc.ae_title, "host": "127.0.0.1",
                                     "port": orthanc.dicom_port}]},
        send={"retry_initial_s": 0.5, "poll_interval_s": 0.2})
    sent = storescu(orthanc.dicom_port, dicom_dir, calling="MODALITY",
                    called=orthanc.ae_title, prefix=orthanc.prefix)
    assert sent.returncode == 0, sent.stderr[-2000:]
    job = node.wait_for_jobs({"done", "failed"}, timeout_s=240)[0]
    assert job.state.value == "done", job.last_error
    wait_for(lambda: set(orthanc.series_by_modality()) >= RESULT_MODALITIES, 120,
             "SEG, SR and key image in Orthanc", node.log)
    return node, job
