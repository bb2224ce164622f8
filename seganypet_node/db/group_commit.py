"""Group commit: database work from many threads committed together by one writer thread.

Each caller of :meth:`GroupCommitter.run` blocks until the transaction that holds its work has
committed, so a C-STORE success status still follows a durable row. Work that arrives while
a transaction is being written waits and goes into the next one: with several associations
sending at once they share one commit (one WAL sync) instead of queueing on SQLite's write
lock, whose busy handler sleeps in steps of milliseconds.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_MAX_BATCH = 64


@dataclass
class _Pending(Generic[T]):
    work: Callable[[Connection], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class GroupCommitter:
    """A writer thread that runs queued units of work in shared transactions.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The node's database.
    max_batch : int
        Most units of work in one transaction.
    """

    def __init__(self, engine: Engine, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop; later work runs in the caller's own transaction."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction and return its result once that has committed.

        Raises whatever ``work`` or the commit raised (for this unit of work only: a failing
        unit never fails the others that shared its transaction).
        """
        if self._thread is None:
            with self._engine.begin() as connection:
                return work(connection)
        pending: _Pending[T] = _Pending(work)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return cast(T, pending.result)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = self._fill(batch)
            try:
                self._commit(batch)
            finally:
                # Never leave a caller waiting, whatever stopped this thread.
                for pending in batch:
                    if not pending.done.is_set():
                        _finish(pending, error=RuntimeError("database writer stopped"))
            if stopping:
                return

    def _fill(self, batch: list[_Pending[Any]]) -> bool:
        """Add what is already queued to ``batch``; True when the stop marker was met."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, batch: list[_Pending[Any]]) -> None:
        try:
            with self._engine.begin() as connection:
                results = [pending.work(connection) for pending in batch]
        except Exception as exc:
            if len(batch) == 1:
                _finish(batch[0], error=exc)
                return
            # One unit failed and took the transaction with it: give each its own, so the
            # error reaches only the caller whose work caused it.
            for pending in batch:
                self._commit_alone(pending)
            return
        for pending, result in zip(batch, results, strict=True):
            _finish(pending, result=result)

    def _commit_alone(self, pending: _Pending[Any]) -> None:
        try:
            with self._engine.begin() as connection:
                result = pending.work(connection)
        except Exception as exc:  # handed to the waiting caller, which re-raises it
            _finish(pending, error=exc)
        else:
            _finish(pending, result=result)


def _finish(pending: _Pending[Any], result: Any = None, error: Exception | None = None) -> None:
    pending.result = result
    pending.error = error
    pending.done.set()
