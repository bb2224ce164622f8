"""Poll fast while PDUs flow, slowly while an association is idle.

pynetdicom polls every association from two threads: the DUL reactor, which sleeps
``dul._run_loop_delay`` between empty loops, and the association reactor, which sleeps 1 ms.
Fast polling is what keeps ingest near a C++ receiver's speed (``benchmarks/ingest.py``), but
at those rates an open idle association cost 5-11 % of a core. Here both threads poll fast
until nothing has been read or sent for ``IDLE_AFTER_S``, then every ``IDLE_POLL_S``: the
first PDU after a pause waits at most that long.
"""

from __future__ import annotations

import threading
import time
from typing import Any

ACTIVE_POLL_S = 0.0002  # the DUL reactor's sleep while PDUs flow
ASSOCIATION_POLL_S = 0.001  # pynetdicom's association reactor sleep, kept while active
IDLE_POLL_S = 0.05
IDLE_AFTER_S = 0.25


class Pace:
    """When an association last read or sent a PDU; shared by its two threads."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def touch(self) -> None:
        self._last = time.monotonic()

    @property
    def idle(self) -> bool:
        return time.monotonic() - self._last > IDLE_AFTER_S

    @property
    def dul_delay(self) -> float:
        return IDLE_POLL_S if self.idle else ACTIVE_POLL_S


class _PacedTime:
    """``time`` for pynetdicom's association module: its reactor's 1 ms sleep becomes
    ``IDLE_POLL_S`` on an idle association that has a :class:`Pace`; all else is ``time``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds == ASSOCIATION_POLL_S:
            pace = getattr(threading.current_thread(), "pace", None)
            if isinstance(pace, Pace) and pace.idle:
                seconds = IDLE_POLL_S
        time.sleep(seconds)


def install() -> None:
    """Pace pynetdicom's association reactors (idempotent; without a Pace nothing changes)."""
    from pynetdicom import association

    if not isinstance(association.time, _PacedTime):
        association.time = _PacedTime()  # type: ignore[assignment]
