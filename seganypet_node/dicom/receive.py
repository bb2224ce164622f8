"""Storing one received instance: check the header, write the spool file, commit the rows.

The success status may only be sent after both the file (fsynced) and its row (committed)
are durable; :meth:`InstanceReceiver.receive` returns only then.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from pydicom.dataset import Dataset
from sqlalchemy.exc import SQLAlchemyError

from seganypet_node.db.engine import utcnow
from seganypet_node.db.group_commit import GroupCommitter
from seganypet_node.db.ingest import record_conflict, record_instance
from seganypet_node.dicom.completion import skip_reason
from seganypet_node.dicom.header import InstanceHeader, read_header
from seganypet_node.dicom.spool import ContentConflictError, Spool
from seganypet_node.dicom.status import InstanceRejected, StoreOutcome, StoreStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedInstance:
    """One C-STORE request as the receiver needs it.

    Parameters
    ----------
    calling_ae : str
        AE title of the sender.
    sop_class_uid, sop_instance_uid : str
        Affected SOP Class / Instance UID of the request.
    transfer_syntax_uid : str
        Transfer syntax of the presentation context.
    dataset : pydicom.dataset.Dataset
        The decoded data set (elements decode lazily).
    encoded : callable
        Returns the bytes as received, with file meta information, ready to be written.
    """

    calling_ae: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    dataset: Dataset
    encoded: Callable[[], bytes]


class InstanceReceiver:
    """Stores received instances durably in the spool and the database.

    Parameters
    ----------
    spool : Spool
        Where the files go.
    committer : GroupCommitter
        Writes the rows (shared transactions across associations).
    on_new_job : callable, optional
        Called after an instance completed its series and a job was committed (wakes workers).
    """

    def __init__(self, spool: Spool, committer: GroupCommitter,
                 on_new_job: Callable[[], None] = lambda: None) -> None:
        self.spool = spool
        self._committer = committer
        self._on_new_job = on_new_job

    def receive(self, item: ReceivedInstance) -> StoreOutcome:
        """Store ``item``; raises :class:`InstanceRejected` with the status for bad input."""
        header = read_header(
            item.dataset, item.sop_class_uid, item.sop_instance_uid, item.transfer_syntax_uid
        )
        relative = self.spool.instance_path(
            header.study_uid, header.series_uid, header.sop_instance_uid
        )
        # A re-sent instance with the same bytes is acknowledged again; with other bytes it
        # is refused and the acknowledged copy kept (the spool never replaces a file).
        try:
            stored = self.spool.write(relative, item.encoded())
        except ContentConflictError:
            self._refuse_conflict(header, "with other content")
        except OSError as exc:
            raise _storage_error(exc) from exc
        skip = skip_reason(header)
        try:
            recorded = self._committer.run(lambda connection: record_instance(
                connection, header, spool_path=str(relative), size_bytes=stored.size_bytes,
                transfer_syntax_uid=item.transfer_syntax_uid, calling_ae=item.calling_ae,
                skip_reason=skip, now=utcnow(), sha256=stored.sha256,
            ))
        except SQLAlchemyError as exc:
            if not stored.existed:
                self.spool.remove(relative)
            log.error("database error storing an instance: %s", type(exc).__name__)
            raise InstanceRejected(
                StoreStatus.OUT_OF_RESOURCES, "database unavailable, send again later"
            ) from exc
        if recorded.duplicate and recorded.stored_path != str(relative):
            # Same SOP Instance UID under another study/series: other content, so refused.
            if not stored.existed:
                self.spool.remove(relative)
            self._refuse_conflict(header, "under another series")
        self._log_recorded(header, recorded.job_id, recorded.late)
        if recorded.job_id is not None:
            self._on_new_job()
        return StoreOutcome(StoreStatus.SUCCESS)

    def _refuse_conflict(self, header: InstanceHeader, how: str) -> NoReturn:
        """Count the conflict on the stored instance, log it without patient data, refuse."""
        log.warning("instance %s re-sent %s; first copy kept", header.sop_instance_uid, how)
        uid = header.sop_instance_uid
        try:
            self._committer.run(lambda connection: record_conflict(connection, uid))
        except SQLAlchemyError as exc:
            log.error("database error counting a conflict: %s", type(exc).__name__)
        raise InstanceRejected(StoreStatus.DUPLICATE_CONFLICT,
                               f"UID stored already {how}; first copy kept")

    @staticmethod
    def _log_recorded(header: InstanceHeader, job_id: int | None, late: bool) -> None:
        log.debug("stored %s %s", header.modality, header.sop_instance_uid)
        if job_id is not None:
            log.info("series %s complete (NumberOfSlices reached): job %d created",
                     header.series_uid, job_id)
        if late:
            log.warning("instance of series %s arrived after the series was complete",
                        header.series_uid)


def _storage_error(exc: OSError) -> InstanceRejected:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InstanceRejected(StoreStatus.OUT_OF_RESOURCES, "spool disk full")
    log.error("spool write failed: %s", exc.strerror)
    return InstanceRejected(StoreStatus.OUT_OF_RESOURCES, "spool write failed")
