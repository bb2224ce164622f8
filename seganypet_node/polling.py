"""A background thread that polls a database queue: the shape shared by workers and the sender."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Protocol

log = logging.getLogger(__name__)

STOP_GRACE_S = 3.0  # a stopping poller's thread is waited for this long, then left behind


def lower_thread_priority(steps: int) -> None:
    """Raise the calling thread's nice value by ``steps`` (Linux: per thread, and inherited by
    the threads it starts, such as torch's). Receiving then keeps the CPU it needs while a
    job computes beside it on the same cores."""
    if steps <= 0 or not hasattr(os, "setpriority"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + steps)
    except OSError as exc:
        log.warning("could not lower the worker thread's priority: %s", exc)


class Stoppable(Protocol):
    """What the node process stops together: a poller thread or a worker process."""

    def request_stop(self) -> None: ...

    def stop(self, timeout: float = STOP_GRACE_S) -> None: ...


class QueuePoller:
    """Runs :meth:`step` until stopped, waiting ``poll_interval_s`` whenever it found no work.

    :meth:`wake` ends the wait at once: the part of the node that queued work in this process
    calls it, so a job or a transfer does not sit out a poll interval. Work queued by another
    process (scale-out on PostgreSQL) is found by polling.

    Parameters
    ----------
    kind : str
        "worker" or "sender": names the thread.
    name : str
        Distinguishes threads of one process in lease owners and logs.
    poll_interval_s : float
        Wait after an idle step.
    """

    def __init__(self, kind: str, name: str, poll_interval_s: float) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{name}"
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{kind}-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_GRACE_S) -> None:
        """Stop after the work in hand, waiting at most ``timeout`` seconds for it; what was
        claimed but not finished goes back by :meth:`on_stop_requested`, or else when its
        lease expires."""
        self.request_stop()
        self._thread.join(timeout)

    def request_stop(self) -> None:
        """Ask the thread to stop without waiting for it (several pollers stop together)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        self.on_stop_requested()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: long work should give up at its next step."""
        return self._stop.is_set()

    def wake(self) -> None:
        """Look for work now instead of at the end of the poll interval."""
        self._wake.set()

    def step(self) -> bool:
        """Do one unit of work; True when there was some."""
        raise NotImplementedError

    def on_thread_start(self) -> None:
        """Called first in the poller's own thread (nothing by default)."""

    def on_stop_requested(self) -> None:
        """Called by :meth:`stop`, on the stopping thread, before it waits (nothing by
        default)."""

    def _loop(self) -> None:
        self.on_thread_start()
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:
                # Database briefly unavailable: claimed work keeps its lease and comes back
                # to the queue when it expires.
                log.exception("%s loop error", self._thread.name)
                busy = False
            if not busy:
                self._wake.wait(self._poll_interval_s)
                self._wake.clear()
