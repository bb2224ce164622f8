"""``serve``'s segmentation workers, each in a child process of its own, supervised.

A job's Python stages hold the interpreter lock; run as threads of the listener's process they
took receiving from 216 to 144 instances/s (benchmarks/RESULTS.md, "Ingest while a job runs").
In a child of their own they do not, and a worker that dies (the kernel's out-of-memory killer
picks the largest process: the worker) takes only itself down: the node records the attempt
it held as failed, with the reason, and starts the worker again.

Channels between the node and a child (:func:`child_main`):

- the child's stdin carries the pickled configuration, then one byte per wake-up (work was
  queued); its end of file means the node is gone, and the child hands its job back and exits;
- the child's stdout carries framed messages (:class:`ParentChannel`): its log records, which
  the node hands to its own logging (stderr and the one ``[logging] file``: a rotating file
  takes one writer), and a note for each finished job whose transfers were queued (the node
  wakes its sender); anything else the child prints goes to stderr;
- SIGTERM or SIGINT stop the child as they stop ``seganypet-node worker``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, cast

from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.bootstrap import StopSignal, bootstrap
from seganypet_node.config import Config
from seganypet_node.db.connect import connect
from seganypet_node.db.engine import make_session_factory, utcnow
from seganypet_node.db.jobs import (
    HANDED_BACK,
    JobNotFoundError,
    fail,
    hand_back,
    held_by_owner,
)
from seganypet_node.polling import STOP_GRACE_S

log = logging.getLogger(__name__)

RESULTS_QUEUED = "results queued"
WAKE = b"w"
RESTART_DELAY_S = 5.0  # after an unexpected exit: a worker that dies at once does not spin


class WorkerProcess:
    """One segmentation worker in a child process; the node's handle on it.

    Has the poller interface :class:`~seganypet_node.app.NodeApp` drives (``start``, ``wake``,
    ``request_stop``, ``stop``).

    Parameters
    ----------
    config : Config
        Validated configuration; the child gets a copy.
    sessions : sqlalchemy.orm.sessionmaker
        The node's database sessions, to settle the job of a child that died.
    name : str
        The worker's name (w1, w2, ...), in its lease owner and log file.
    on_results_queued : callable
        Called when the child has queued a finished job's transfers.
    """

    def __init__(self, config: Config, sessions: sessionmaker[Session], name: str,
                 on_results_queued: Callable[[], None]) -> None:
        self.config = config
        self.sessions = sessions
        self.name = name
        self._on_results_queued = on_results_queued
        self._lock = threading.Lock()  # guards the child and its stdin against a respawn
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"worker-{name}",
                                        daemon=True)

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._thread.start()

    def wake(self) -> None:
        """Tell the child that work was queued; never blocks (a full pipe already says so)."""
        with self._lock:
            child = self._child
            if child is None or child.stdin is None or child.stdin.closed:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(child.stdin.fileno(), WAKE)

    def request_stop(self) -> None:
        """Ask the child to hand its job back and exit, without waiting for it."""
        with self._lock:
            self._stopping.set()
            child = self._child
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_GRACE_S) -> None:
        """Stop the child within ``timeout`` seconds, killing it after that; a job it still
        held goes back to the queue without spending an attempt."""
        self.request_stop()
        child = self._child
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.info("worker %s (pid %d) still busy after %.1f s: killed (its job was "
                         "handed back)", self.name, child.pid, timeout)
                child.kill()
                child.wait()
            self._settle(child, None)
        if self._thread.is_alive():
            self._thread.join(1.0)

    def _spawn(self) -> None:
        """Start a child (the caller holds the lock: a stop cannot slip in between)."""
        child = subprocess.Popen(
            [sys.executable, "-m", "seganypet_node.worker_process", self.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert child.stdin is not None
        child.stdin.write(pickle.dumps(self.config))
        child.stdin.flush()
        os.set_blocking(child.stdin.fileno(), False)
        old, self._child = self._child, child
        if old is not None and old.stdin is not None:
            old.stdin.close()
        log.info("worker %s started (pid %d)", self.name, child.pid)

    def _supervise(self) -> None:
        while True:
            child = self._child
            assert child is not None and child.stdout is not None
            for message in ParentChannel.messages(child.stdout):
                if isinstance(message, logging.LogRecord):
                    logging.getLogger(message.name).handle(message)
                elif message == RESULTS_QUEUED:
                    self._on_results_queued()
            status = child.wait()
            if self._stopping.is_set():
                return
            reason = f"worker process {self.name} (pid {child.pid}) {exit_reason(status)}"
            log.warning("%s; starting it again in %.0f s", reason, RESTART_DELAY_S)
            self._settle(child, reason)
            if self._stopping.wait(RESTART_DELAY_S):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()

    def _settle(self, child: subprocess.Popen[bytes], reason: str | None) -> None:
        """Jobs the dead ``child`` still held: a failed attempt with ``reason``, or back to
        the queue unspent when the node stopped it (``reason`` None)."""
        owner = f"{socket.gethostname()}:{child.pid}:{self.name}"
        now = utcnow()
        try:
            with self.sessions.begin() as session:
                for claimed in held_by_owner(session, owner):
                    if reason is None:
                        hand_back(session, claimed, HANDED_BACK, now)
                    else:
                        state = fail(session, claimed, reason, now)
                        log.warning("job %d: attempt %d failed (%s): %s", claimed.job_id,
                                    claimed.attempt, state.value, reason)
        except JobNotFoundError:
            pass
        except Exception:  # the database is gone too: the lease expires instead
            log.exception("worker %s: its job could not be settled", self.name)


def exit_reason(status: int) -> str:
    """How a child ended, for an operator: ``status`` as :attr:`Popen.returncode` gives it."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    if -status == signal.SIGKILL:
        return (f"was killed by {name} (the kernel's out-of-memory killer sends it when the "
                "machine runs out of memory: see [worker] memory_budget_mb)")
    return f"was killed by {name}"


class ParentChannel(logging.Handler):
    """The child's side of its stdout: log records and notes, each a length-prefixed pickle.

    Parameters
    ----------
    stream : binary file
        The pipe to the node (unbuffered).
    """

    def __init__(self, stream: io.RawIOBase) -> None:
        super().__init__()
        self.stream = stream

    def send(self, message: object) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ makes it
            self._write(message)

    def _write(self, message: object) -> None:
        data = pickle.dumps(message)
        self.stream.write(struct.pack(">I", len(data)) + data)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # As logging's SocketHandler: the message and traceback as text, no live objects.
            record.msg, record.args = record.getMessage(), None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self._write(record)  # handle() holds the lock around emit
        except Exception:
            self.handleError(record)

    @staticmethod
    def messages(stream: IO[bytes]) -> Iterator[object]:
        """The node's side: every message until the child's end of the pipe closes."""
        while len(header := stream.read(4)) == 4:
            data = stream.read(struct.unpack(">I", header)[0])
            yield pickle.loads(data)


def child_main(name: str) -> int:
    """The child's side: one :class:`~seganypet_node.worker.JobWorker` until told to stop."""
    config: Config = pickle.load(sys.stdin.buffer)
    channel = ParentChannel(os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    bootstrap(config)
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(channel)
    stop = StopSignal()
    from seganypet_node.worker import JobWorker

    engine = connect(config.database_url)
    worker = JobWorker(config, make_session_factory(engine), name,
                       lambda: channel.send(RESULTS_QUEUED))
    node_gone = threading.Event()
    threading.Thread(target=_read_wakes, args=(worker.wake, node_gone), name="wakes",
                     daemon=True).start()
    worker.start()
    stop.wait(until=node_gone.is_set)
    if node_gone.is_set() and not stop.received:
        # stderr: the node that would have logged it is gone
        print(f"worker {name}: the node process is gone; handing the job back",
              file=sys.stderr, flush=True)
    worker.request_stop()  # hands its job back at once
    worker.stop()
    engine.dispose()
    return 0


def _read_wakes(wake: Callable[[], None], node_gone: threading.Event) -> None:
    stdin = cast(io.BufferedReader, sys.stdin.buffer)  # read1: what pickle.load read ahead
    while stdin.read1(64):
        wake()
    node_gone.set()


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))
