"""Helpers the tests share: real node processes, dcmtk peers, database look-ups."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seganypet_node.db.engine import make_engine, make_session_factory
from seganypet_node.db.models import Instance, Job, Outbound, Series

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DCMTK_DIRS = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")
NODE_AE = "SEGANYPET"


def find_dcmtk(tool: str) -> str | None:
    """Full path of dcmtk's ``tool`` (pynetdicom's same-named scripts shadow it on PATH)."""
    candidates = [str(Path(d) / tool) for d in DCMTK_DIRS] + [shutil.which(tool) or ""]
    for path in candidates:
        if not path or not os.access(path, os.X_OK):
            continue
        probe = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        if "dcmtk" in (probe.stdout + probe.stderr).lower():
            return path
    return None


def cli(*args: str, env: dict[str, str] | None = None,
        timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``seganypet-node`` (this checkout's) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "seganypet_node", *args], capture_output=True, text=True,
        timeout=timeout_s, env={**os.environ, **(env or {})}, check=False,
    )


def dcmtk_env() -> dict[str, str]:
    """Environment for dcmtk tools: without TCP_NODELAY each C-STORE waits ~45 ms."""
    return {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, data_dir: Path, port: int, **sections: dict[str, Any]) -> Path:
    """A site config file: node address and data dir, plus any other section overrides.

    Workers are off unless a test asks for them: receiving tests look at pending jobs. The
    review service is off unless asked for: its default port is one for the whole machine.
    Landmarks are fused over 2 atlas subjects, not the default 8, and the network runs
    without mirror images, not 4: each subject costs a registration and each image a network
    pass per study, and these tests check the node, not the masks' accuracy
    (``tests/unit/test_pipeline.py`` and ``test_atlas_subjects.py`` use the defaults).
    """
    node = {"port": port, "data_dir": str(data_dir), **sections.pop("node", {})}
    sections.setdefault("worker", {"count": 0})
    sections.setdefault("review", {"enabled": False})  # tests that use it give it a port
    sections.setdefault("pipeline", {}).setdefault("atlas_subjects", 2)
    sections.setdefault("model", {}).setdefault("mirror_images", 1)
    lines = []
    for name, values in {"node": node, **sections}.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started that still run (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def kill_pid(pid: int) -> None:
    """SIGKILL ``pid`` if it still runs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def pid_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


@dataclass
class NodeProcess:
    """A ``seganypet-node serve`` process started by a test, stopped by PID."""

    config_path: Path
    data_dir: Path
    port: int
    log_path: Path
    # Command prefix, e.g. NetNamespace.enter() to run the node beside peers in a namespace.
    prefix: tuple[str, ...] = ()
    # ("worker", "--workers", "1") runs queue workers only, on the same config and database.
    command: tuple[str, ...] = ("serve",)
    ready_mark: str = "seganypet-node ready"
    database_url: str = ""  # empty: the embedded SQLite file in data_dir
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout_s: float = 30.0) -> NodeProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "seganypet_node", "--config",
             str(self.config_path), *self.command],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        ready_marks = self.log().count(self.ready_mark)
        while time.monotonic() < deadline:
            if self.log().count(self.ready_mark) > ready_marks:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"node not ready after {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def job_results(self, job_id: int) -> Path:
        """A job's result folder, where the node's own configuration puts it."""
        from seganypet_node.config import load_config
        from seganypet_node.db.jobs import job_results_dir

        return job_results_dir(load_config(self.config_path).results_dir, job_id)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """Terminate (SIGKILL when it does not exit in time), like the peers' ``stop``."""
        try:
            self.terminate()
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the node and its worker processes, as a crash of the machine would."""
        if self.process is not None and self.process.poll() is None:
            workers = child_pids(self.process.pid)
            os.kill(self.process.pid, signal.SIGKILL)
            for pid in workers:
                kill_pid(pid)
            self.process.wait(timeout=10)

    def kill_node_alone(self) -> list[int]:
        """SIGKILL the node process only; the pids of the worker processes it leaves."""
        assert self.process is not None
        workers = child_pids(self.process.pid)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return workers

    def worker_pids(self) -> list[int]:
        """The node's worker processes (its children)."""
        assert self.process is not None
        return child_pids(self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def session(self) -> Session:
        engine = make_engine(self.database_url or f"sqlite:///{self.data_dir / 'node.db'}")
        return make_session_factory(engine)()

    def wait_for_jobs(self, states: set[str], count: int = 1,
                      timeout_s: float = 180.0) -> list[Job]:
        """Wait until ``count`` jobs are in one of ``states``; returns every job."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.session() as s:
                jobs = list(s.scalars(select(Job).order_by(Job.id)))
                s.expunge_all()
            if sum(j.state.value in states for j in jobs) >= count:
                return jobs
            time.sleep(0.5)
        raise AssertionError(f"jobs not {states} after {timeout_s} s:\n{self.log()[-3000:]}")

    def counts(self) -> dict[str, int]:
        """Rows in the node's database: instances, series, jobs."""
        with self.session() as s:
            return {
                "instances": s.scalar(select(func.count(Instance.id))) or 0,
                "series": s.scalar(select(func.count(Series.id))) or 0,
                "jobs": s.scalar(select(func.count(Job.id))) or 0,
            }


def start_storescu(
    port: int, *paths: Path, calling: str = "STORESCU", called: str = NODE_AE,
    extra: tuple[str, ...] = (), prefix: tuple[str, ...] = (), verbose: bool = False,
) -> subprocess.Popen[str]:
    """Start dcmtk storescu sending files or directories (``+sd``); stderr is piped, and
    stdout too with ``verbose`` (``-v``: one line per file and response), else discarded."""
    tool = find_dcmtk("storescu")
    assert tool, "dcmtk storescu not installed"
    return subprocess.Popen(
        [*prefix, tool, *(["-v"] if verbose else []), "-aet", calling, "-aec", called, "+sd",
         *extra, "127.0.0.1", str(port), *map(str, paths)],
        stdout=subprocess.PIPE if verbose else subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=dcmtk_env(),
    )


def storescu(
    port: int, *paths: Path, calling: str = "STORESCU", called: str = NODE_AE,
    extra: tuple[str, ...] = (), timeout_s: float = 300, prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Send files or directories with dcmtk storescu -v and wait for it."""
    sender = start_storescu(port, *paths, calling=calling, called=called, extra=extra,
                            prefix=prefix, verbose=True)
    try:
        stdout, stderr = sender.communicate(timeout=timeout_s)
    finally:
        stop_process(sender)
    return subprocess.CompletedProcess(sender.args, sender.returncode, stdout, stderr)


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for process {pid}")


def echoscu(port: int, calling: str = "ECHOSCU", called: str = NODE_AE) -> int:
    tool = find_dcmtk("echoscu")
    assert tool, "dcmtk echoscu not installed"
    return subprocess.run(
        [tool, "-aet", calling, "-aec", called, "127.0.0.1", str(port)],
        capture_output=True, env=dcmtk_env(), timeout=60, check=False,
    ).returncode


def acknowledged_files(storescu_log: str) -> list[str]:
    """Files that storescu -v reports a success response for."""
    acked, current = [], None
    for line in storescu_log.splitlines():
        if line.startswith("I: Sending file: "):
            current = line.removeprefix("I: Sending file: ").strip()
        elif "Received Store Response (Success)" in line and current:
            acked.append(current)
            current = None
    return acked


def pynetdicom_store(port: int, item: Any, calling: str = "PYSCU",
                     sop_class: str | None = None) -> Any:
    """Send one file (its raw bytes) or Dataset with pynetdicom's SCU; returns the response.

    Used for what dcmtk's storescu refuses to send: truncated, garbled or odd files.
    Returns None when the association was not accepted or the peer aborted.
    """
    from pynetdicom import AE, _config
    from pynetdicom.presentation import build_context

    from seganypet_node.dicom.sop import STORAGE_SOP_CLASSES, accepted_transfer_syntaxes

    # A file goes as its raw bytes after the file meta, never decoded and re-encoded.
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    classes = [sop_class] if sop_class else list(STORAGE_SOP_CLASSES)
    # One context per transfer syntax, so a file can go in the syntax it is encoded in.
    ae.requested_contexts = [
        build_context(c, ts) for c in classes for ts in accepted_transfer_syntaxes()
    ]
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AE)
    if not assoc.is_established:
        return None
    try:
        return assoc.send_c_store(item)
    finally:
        if assoc.is_established:
            assoc.release()


class NetNamespace:
    """A private network namespace with only loopback, for peers that cannot bind one address.

    A holder process keeps the namespace alive; ``enter()`` is the command prefix that runs a
    program inside it (nsenter execs the program, so its PID is the program's). Stopped by PID.
    """

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "-rn", "sh", "-c", "ip link set lo up && exec sleep 3600"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run([*self.enter(), "ip", "-o", "link", "show", "lo"],
                                   capture_output=True, text=True, check=False)
            if "UP" in probe.stdout:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("network namespace did not come up")

    def enter(self) -> tuple[str, ...]:
        return ("nsenter", "-t", str(self.holder.pid), "-U", "-n", "--preserve-credentials")

    def stop(self) -> None:
        stop_process(self.holder)


def stop_process(process: subprocess.Popen[Any] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, a process a test started (by its PID)."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def unshare_available() -> bool:
    """Whether this machine lets us make a user + network namespace (`unshare -rn`)."""
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def outbound_rows(node: NodeProcess) -> list[Outbound]:
    """The node's outbound queue, oldest first."""
    with node.session() as s:
        rows = list(s.scalars(select(Outbound).order_by(Outbound.id)))
        s.expunge_all()
    return rows


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             log: Callable[[], str] = lambda: "", interval_s: float = 0.5) -> None:
    """Poll ``condition`` until true; fail with ``what`` and the tail of ``log()``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"{what} not reached after {timeout_s} s\n{log()[-3000:]}")
