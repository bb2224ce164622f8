"""The studies open for review in this process: each job's draft, its series read once and its
crops embedded beside the page, a few at a time.

A draft lives in memory (a restart of the review service closes it; what was verified is in
the database and the audit log). At most ``MAX_OPEN`` studies are open; opening another closes
the one used longest ago, so memory stays bounded by a few studies whatever readers do.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.config import Config
from seganypet_node.db.jobs import done_job_files, job_results_dir
from seganypet_node.dicom.spool import Spool
from seganypet_node.imaging.pet import read_pet_series
from seganypet_node.imaging.volume import from_pet_series
from seganypet_node.model.checkpoint import ModelIdentity
from seganypet_node.outputs.reload import SavedRunError, read_saved_run
from seganypet_node.outputs.summary import SUMMARY_FILE
from seganypet_node.pipeline.draft import StudyDraft
from seganypet_node.pipeline.run import predictor_from_config, suv_like
from seganypet_node.review.views import Window, coronal_mip, default_window

log = logging.getLogger(__name__)
MAX_OPEN = 2
EMBEDDING_CACHE = 64  # crops kept per study: every finding's, and those clicks added


@dataclass(eq=False)
class OpenStudy:
    """One job under review: its draft, who opened it, the warm-up beside it."""

    job_id: int
    draft: StudyDraft
    model: ModelIdentity
    results_dir: Path
    opened_by: str
    stop: threading.Event = field(default_factory=threading.Event)
    warmed: int = 0

    # Each a whole pass over the study: made once, not on every picture or step.
    @functools.cached_property
    def mip(self) -> np.ndarray:
        return coronal_mip(self.draft.values)

    @functools.cached_property
    def window(self) -> Window:
        return default_window(self.draft.values)


class DraftStore:
    """Open reviews by job id.

    Parameters
    ----------
    config : Config
        Where the spool and results are, and the model to correct with.
    database : sessionmaker
        To find a job's series.
    """

    def __init__(self, config: Config, database: sessionmaker[Session]) -> None:
        self.config, self.database = config, database
        self._open: OrderedDict[int, OpenStudy] = OrderedDict()
        self._lock = threading.Lock()
        self._opening = threading.Lock()  # one study read at a time: it costs cores and memory

    def get(self, job_id: int) -> OpenStudy | None:
        """The job's open review, or None."""
        with self._lock:
            found = self._open.get(job_id)
            if found is not None:
                self._open.move_to_end(job_id)
            return found

    def open(self, job_id: int, user_name: str) -> OpenStudy:
        """The job's review, opened from its series and results when not open yet.

        Raises
        ------
        seganypet_node.db.jobs.JobNotFoundError
            No such job, or it is not done.
        seganypet_node.outputs.reload.SavedRunError
            Its results cannot be read back.
        seganypet_node.errors.NodeError
            Its series cannot be read (the message says why).
        """
        with self._opening:
            found = self.get(job_id)
            if found is not None:
                return found
            study = self._load(job_id, user_name)
            with self._lock:
                self._open[job_id] = study
                while len(self._open) > MAX_OPEN:
                    _, closed = self._open.popitem(last=False)
                    closed.stop.set()
        threading.Thread(target=self._warm, args=(study,), name=f"review-warm-{job_id}",
                         daemon=True).start()
        return study

    def close(self, job_id: int) -> None:
        """Forget a job's draft (after it was verified)."""
        with self._lock:
            closed = self._open.pop(job_id, None)
        if closed is not None:
            closed.stop.set()

    def close_all(self) -> None:
        with self._lock:
            studies = list(self._open.values())
            self._open.clear()
        for study in studies:
            study.stop.set()

    def _load(self, job_id: int, user_name: str) -> OpenStudy:
        start = time.perf_counter()
        spool = Spool(self.config.spool_dir)
        with self.database.begin() as session:
            files = [spool.absolute(p) for p in done_job_files(session, job_id)]
        folder = job_results_dir(self.config.results_dir, job_id)
        if not (folder / SUMMARY_FILE).is_file():  # before the series is read: seconds
            raise SavedRunError(f"job {job_id}'s results cannot be read: it has no "
                                f"{SUMMARY_FILE}")
        volume = from_pet_series(read_pet_series(files))
        suv = suv_like(volume)
        saved = read_saved_run(folder, suv)
        predictor, loaded = predictor_from_config(self.config, cache_size=EMBEDDING_CACHE)
        draft = StudyDraft(saved.result, saved.lesions, volume, suv, predictor)
        log.info("job %d opened for review in %.1f s", job_id, time.perf_counter() - start)
        return OpenStudy(job_id, draft, loaded.identity, folder, user_name)

    @staticmethod
    def _warm(study: OpenStudy) -> None:
        start = time.perf_counter()
        try:
            study.warmed = study.draft.warm_up(study.stop)
        except Exception:  # the page still works; each first click embeds its own crop
            log.exception("job %d: embedding the review's crops failed", study.job_id)
            study.warmed = -1
            return
        log.info("job %d: %d review crops embedded in %.1f s", study.job_id, study.warmed,
                 time.perf_counter() - start)
