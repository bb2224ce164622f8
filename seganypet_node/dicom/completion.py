"""When a series is complete, and which complete series get a segmentation job.

A series completes when its received instances reach NumberOfSlices (checked as each instance
is recorded, see :func:`seganypet_node.db.ingest.record_instance`), or, when NumberOfSlices is
absent or never reached, after a quiet period without new instances (:class:`QuietPeriodSweeper`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.db.engine import utcnow
from seganypet_node.db.ingest import complete_series, quiet_series
from seganypet_node.db.rows import InstanceHeader
from seganypet_node.db.states import CompletionRule
from seganypet_node.dicom.header import is_pet
from seganypet_node.polling import QueuePoller

log = logging.getLogger(__name__)


def skip_reason(header: InstanceHeader) -> str | None:
    """Why a series with this header gets no segmentation job, or None when it gets one."""
    if not is_pet(header):
        return f"{header.modality} series: stored, not segmented"
    if header.modality != "PT":
        return f"PET SOP class with Modality {header.modality!r}: not segmented"
    if "ATTN" not in header.corrected_image:
        return "PET not attenuation corrected (CorrectedImage lacks ATTN): not segmented"
    return None


class QuietPeriodSweeper(QueuePoller):
    """Background thread that completes series that have been quiet for the quiet period.

    The node's one polling loop (:class:`~seganypet_node.polling.QueuePoller`), sweeping once
    per interval; a failed sweep is logged and the next one tries again.

    Parameters
    ----------
    sessions : sqlalchemy.orm.sessionmaker
        Session factory of the node's database.
    quiet_period : datetime.timedelta
        Time without new instances after which a receiving series is complete.
    interval_s : float
        Seconds between sweeps.
    on_new_job : callable, optional
        Called after a sweep committed new jobs (wakes workers).
    """

    def __init__(
        self, sessions: sessionmaker[Session], quiet_period: dt.timedelta, interval_s: float,
        on_new_job: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__("sweeper", "quiet", interval_s)
        self._sessions = sessions
        self._on_new_job = on_new_job
        self._quiet_period = quiet_period

    def step(self) -> bool:
        self.sweep()
        return False  # sweep again after the interval, not at once

    def sweep(self, now: dt.datetime | None = None) -> list[int]:
        """Complete every quiet series once; returns the ids of the jobs created."""
        now = now or utcnow()
        created = []
        with self._sessions.begin() as session:
            connection = session.connection()
            for series_id in quiet_series(connection, now - self._quiet_period):
                job_id = complete_series(connection, series_id, CompletionRule.QUIET, now)
                log.info("series %d complete (quiet period), %s", series_id,
                         "no job" if job_id is None else f"job {job_id}")
                if job_id is not None:
                    created.append(job_id)
        if created:
            self._on_new_job()
        return created
