"""A job's lease kept alive by a heartbeat thread, whatever the pipeline is doing.

An organ on a CPU at 2 mm can take longer than the lease; renewing only between stages let
the lease expire mid-job and a second worker run the same job. The heartbeat renews every
third of the lease from its own thread and session. When a renewal finds the job no longer
ours (the lease did expire, e.g. the process was stopped, and another worker claimed it),
:meth:`LeaseHeartbeat.check` raises from then on, and :func:`~seganypet_node.db.jobs.finish`
refuses our result by the claim's fencing token (its attempt number).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.db.engine import utcnow
from seganypet_node.db.jobs import ClaimedJob, renew_lease

log = logging.getLogger(__name__)
RENEWALS_PER_LEASE = 3


class LeaseLostError(RuntimeError):
    """Another worker took the job over (our lease expired); our result is not recorded."""


class LeaseHeartbeat:
    """Renews ``claimed``'s lease every ``lease / 3`` until the ``with`` block ends.

    Parameters
    ----------
    sessions : sqlalchemy.orm.sessionmaker
        Session factory of the node's database (the heartbeat opens its own sessions).
    claimed : ClaimedJob
        The job held, with its fencing token.
    lease : datetime.timedelta
        The lease length granted at each renewal.
    ceiling : datetime.timedelta, optional
        Renewals stop this long after the start, so that a worker hung for good loses the
        job when its lease runs out, as a dead one does (None: no ceiling).
    """

    def __init__(self, sessions: sessionmaker[Session], claimed: ClaimedJob,
                 lease: dt.timedelta, ceiling: dt.timedelta | None = None) -> None:
        self._sessions = sessions
        self._claimed = claimed
        self._lease = lease
        self._ceiling_s = ceiling.total_seconds() if ceiling is not None else float("inf")
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"lease-job-{claimed.job_id}")

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def check(self, stage: str = "") -> None:
        """Raise :class:`LeaseLostError` once the job is no longer ours (a progress hook)."""
        if self._lost.is_set():
            raise LeaseLostError(stage)

    def renew(self) -> bool:
        """Renew now; False (and :meth:`check` raising from then on) when the job is no
        longer ours."""
        try:
            with self._sessions.begin() as session:
                held = renew_lease(session, self._claimed, self._lease, utcnow())
        except Exception:  # a busy or unreachable database: the next beat tries again
            log.warning("job %d: lease renewal failed; retrying", self._claimed.job_id,
                        exc_info=True)
            return True
        if not held:
            self._lost.set()
        return held

    def _beat(self) -> None:
        interval = self._lease.total_seconds() / RENEWALS_PER_LEASE
        until = time.monotonic() + self._ceiling_s
        while not self._stop.wait(interval):
            if time.monotonic() > until:
                log.warning("job %d: still running after %.0f s; its lease is no longer "
                            "renewed", self._claimed.job_id, self._ceiling_s)
                return
            if not self.renew():
                log.warning("job %d: lease no longer held (another worker took it over, or "
                            "the job was handed back as the node stops)", self._claimed.job_id)
                return
