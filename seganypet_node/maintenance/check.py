"""Do the spool, the result folders and the database agree? Find what does not; repair it.

What each finding means and what ``repair`` does (never deleting received data):

- a temporary spool file (``.<name>.tmp``): a write that never finished, so it was never
  acknowledged; removed.
- a spool file without an instance row: the process died between the file and its row, so the
  sender got no success and will send again; the file is recorded as if received now (a
  later resend is then a harmless duplicate). A file that does not read as a valid instance,
  or lies where its own UIDs would not put it, is moved to ``<data_dir>/quarantine``.
- an instance row whose file is missing (removed outside the node): the row is deleted and the
  series count lowered, so a resend of the series completes it again.
- a file whose bytes no longer have the SHA-256 recorded when it was acknowledged (changed or
  damaged outside the node): reported, never repaired (the acknowledged content is gone; the
  sender must send it again).
- a transfer not yet sent whose result file is missing: marked failed with the reason; and a
  done job whose result folder is missing: queued again, which writes and sends it anew.
"""

from __future__ import annotations

import enum
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pydicom
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.db.engine import utcnow
from seganypet_node.db.ingest import record_instance
from seganypet_node.db.jobs import job_results_dir, rerun, unfinished_results_dirs
from seganypet_node.db.models import Instance, Job, Outbound, Series
from seganypet_node.db.states import JobState, OutboundState
from seganypet_node.dicom.completion import skip_reason
from seganypet_node.dicom.header import read_header
from seganypet_node.dicom.spool import Spool, is_temporary
from seganypet_node.hashing import file_sha256

QUARANTINE = "quarantine"
CHECK_AE = "CHECK"


class FindingKind(enum.Enum):
    """What disagrees."""

    TEMP_FILE = "temporary file"
    UNRECORDED_FILE = "file without a database row"
    MISSING_FILE = "instance row without its file"
    CHANGED_FILE = "file differs from what was acknowledged"
    MISSING_RESULT = "transfer without its result file"
    MISSING_RESULTS_DIR = "done job without its result folder"
    UNFINISHED_RESULTS = "results folder of an attempt that did not finish"


@dataclass(frozen=True)
class Finding:
    """One disagreement: what, where, and what the repair did (None: not repaired)."""

    kind: FindingKind
    subject: str
    repaired: str | None = None


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one check."""

    instances: int
    spool_files: int
    findings: tuple[Finding, ...]

    @property
    def unresolved(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.repaired is None)


class ConsistencyCheck:
    """Compare the spool and result folders with the database.

    Parameters
    ----------
    sessions : sqlalchemy.orm.sessionmaker
        The node's database.
    spool : Spool
        The received instances.
    data_dir : pathlib.Path
        The node's data dir (result paths in the outbound queue are relative to it).
    results_dir : pathlib.Path
        Where job result folders are.
    """

    def __init__(self, sessions: sessionmaker[Session], spool: Spool, data_dir: Path,
                 results_dir: Path) -> None:
        self._sessions = sessions
        self._spool = spool
        self._data_dir = data_dir
        self._results_dir = results_dir

    def run(self, repair: bool = False) -> CheckReport:
        with self._sessions() as session:
            hashes = {path: digest for path, digest in
                      session.execute(select(Instance.spool_path, Instance.sha256))}
        recorded = set(hashes)
        files = set()
        findings = []
        for relative in _spool_files(self._spool.root):
            if is_temporary(relative.name):
                findings.append(self._temp_file(relative, repair))
            else:
                files.add(str(relative))
        findings += [self._unrecorded(PurePosixPath(p), repair) for p in sorted(files - recorded)]
        findings += [self._missing(p, repair) for p in sorted(recorded - files)]
        findings += [Finding(FindingKind.CHANGED_FILE, p) for p in sorted(recorded & files)
                     if hashes[p] is not None
                     and file_sha256(self._spool.absolute(PurePosixPath(p))) != hashes[p]]
        findings += self._results(repair)
        return CheckReport(len(recorded), len(files), tuple(findings))

    def _temp_file(self, relative: PurePosixPath, repair: bool) -> Finding:
        if repair:
            self._spool.remove(relative)
        return Finding(FindingKind.TEMP_FILE, str(relative), "removed" if repair else None)

    def _unrecorded(self, relative: PurePosixPath, repair: bool) -> Finding:
        if not repair:
            return Finding(FindingKind.UNRECORDED_FILE, str(relative))
        path = self._spool.absolute(relative)
        try:
            dataset = pydicom.dcmread(path)
            syntax = str(dataset.file_meta.TransferSyntaxUID)
            header = read_header(dataset, str(dataset.SOPClassUID),
                                 str(dataset.SOPInstanceUID), syntax)
            expected = self._spool.instance_path(header.study_uid, header.series_uid,
                                                 header.sop_instance_uid)
        except Exception as exc:  # pydicom raises many types for a corrupt file
            return self._quarantine(relative, f"not a valid instance ({type(exc).__name__})")
        if expected != relative:
            return self._quarantine(relative, "its UIDs belong elsewhere")
        with self._sessions.begin() as session:
            record_instance(session.connection(), header, spool_path=str(relative),
                            size_bytes=path.stat().st_size, transfer_syntax_uid=syntax,
                            calling_ae=CHECK_AE, skip_reason=skip_reason(header), now=utcnow(),
                            sha256=file_sha256(path))
        return Finding(FindingKind.UNRECORDED_FILE, str(relative), "recorded")

    def _quarantine(self, relative: PurePosixPath, why: str) -> Finding:
        target = self._data_dir / QUARANTINE / str(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self._spool.absolute(relative), target)
        return Finding(FindingKind.UNRECORDED_FILE, str(relative),
                       f"{why}: moved to {QUARANTINE}/")

    def _missing(self, spool_path: str, repair: bool) -> Finding:
        if not repair:
            return Finding(FindingKind.MISSING_FILE, spool_path)
        with self._sessions.begin() as session:
            series_id = session.scalar(
                delete(Instance).where(Instance.spool_path == spool_path)
                .returning(Instance.series_id))
            session.execute(update(Series).where(Series.id == series_id)
                            .values(received_instances=Series.received_instances - 1))
        return Finding(FindingKind.MISSING_FILE, spool_path,
                       "row deleted; send the series again")

    def _results(self, repair: bool) -> list[Finding]:
        findings = []
        with self._sessions.begin() as session:
            for row in session.scalars(select(Outbound).where(
                    Outbound.state.in_((OutboundState.PENDING, OutboundState.FAILED)))):
                if (self._data_dir / row.spool_path).exists():
                    continue
                if repair:
                    row.state = OutboundState.FAILED
                    row.last_error = "result file missing; run the job again (jobs --rerun)"
                findings.append(Finding(FindingKind.MISSING_RESULT, f"transfer {row.id}",
                                        "marked failed" if repair else None))
            for job_id in session.scalars(select(Job.id).where(Job.state == JobState.DONE)):
                if job_results_dir(self._results_dir, job_id).is_dir():
                    continue
                if repair:
                    rerun(session, job_id, utcnow())
                findings.append(Finding(FindingKind.MISSING_RESULTS_DIR, f"job {job_id}",
                                        "queued again" if repair else None))
            findings += self._unfinished(session, repair)
        return findings

    def _unfinished(self, session: Session, repair: bool) -> list[Finding]:
        """Attempt folders no running attempt owns (a worker died or gave up the job)."""
        findings = []
        for path, job_id, attempt in unfinished_results_dirs(self._results_dir):
            job = session.get(Job, job_id)
            if job is not None and job.state is JobState.RUNNING and attempt == job.attempts:
                continue  # that attempt is still at work
            if repair:
                shutil.rmtree(path, ignore_errors=True)
            findings.append(Finding(FindingKind.UNFINISHED_RESULTS, path.name,
                                    "removed" if repair else None))
        return findings


def _spool_files(root: Path) -> Iterator[PurePosixPath]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            yield PurePosixPath(Path(folder, name).relative_to(root).as_posix())
