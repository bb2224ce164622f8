"""`check`: spool, result folders and database compared on real files and a real database."""

from pathlib import Path

import pydicom
import pytest
from sqlalchemy import select

from seganypet_node.db.engine import utcnow
from seganypet_node.db.group_commit import GroupCommitter
from seganypet_node.db.models import Instance, Job, Outbound, Series
from seganypet_node.db.outbound import OutboundObject, enqueue
from seganypet_node.db.states import JobState, OutboundState
from seganypet_node.dicom.receive import InstanceReceiver, ReceivedInstance
from seganypet_node.dicom.spool import Spool
from seganypet_node.maintenance.check import ConsistencyCheck, FindingKind
from seganypet_node.outputs.kinds import ObjectKind
from seganypet_node.settings_values import RemoteAE


@pytest.fixture
def stored(sessions, phantom_study, tmp_path):
    """Ten phantom instances received into a spool under ``tmp_path/data``."""
    data = tmp_path / "data"
    spool = Spool(data / "spool")
    receiver = InstanceReceiver(spool, GroupCommitter(sessions.kw["bind"]))
    for path in phantom_study.files[:10]:
        raw = path.read_bytes()
        ds = pydicom.dcmread(path)
        receiver.receive(ReceivedInstance("SCU", ds.SOPClassUID, ds.SOPInstanceUID,
                                          ds.file_meta.TransferSyntaxUID, ds, lambda r=raw: r))
    return data, spool


def checker(sessions, data: Path, spool: Spool) -> ConsistencyCheck:
    return ConsistencyCheck(sessions, spool, data, data / "results")


def kinds(report) -> list[FindingKind]:
    return sorted((f.kind for f in report.findings), key=lambda k: k.value)


def test_a_consistent_node_has_no_findings(sessions, stored) -> None:
    report = checker(sessions, *stored).run()
    assert (report.instances, report.spool_files, report.findings) == (10, 10, ())


def test_crash_leftovers_are_found_and_repaired(sessions, stored, phantom_study) -> None:
    data, spool = stored
    with sessions() as s:
        rows = list(s.scalars(select(Instance).order_by(Instance.id)))
    # A write that never finished, a file whose row never committed, a file removed by hand.
    folder = spool.absolute(rows[0].spool_path).parent
    (folder / ".1.2.3.dcm.ab12.tmp").write_bytes(b"partial")
    extra = pydicom.dcmread(phantom_study.files[10])
    unrecorded = folder / f"{extra.SOPInstanceUID}.dcm"
    unrecorded.write_bytes(phantom_study.files[10].read_bytes())
    spool.absolute(rows[1].spool_path).unlink()
    (folder / "9.9.9.dcm").write_bytes(b"not dicom at all")

    found = checker(sessions, data, spool).run()
    assert kinds(found) == [FindingKind.UNRECORDED_FILE, FindingKind.UNRECORDED_FILE,
                            FindingKind.MISSING_FILE, FindingKind.TEMP_FILE]
    assert len(found.unresolved) == 4

    repaired = checker(sessions, data, spool).run(repair=True)
    outcomes = {f.subject.rsplit("/", 1)[-1]: f.repaired for f in repaired.findings}
    assert outcomes[f"{extra.SOPInstanceUID}.dcm"] == "recorded"
    assert "quarantine" in outcomes["9.9.9.dcm"]
    assert outcomes[rows[1].spool_path.rsplit("/", 1)[-1]].startswith("row deleted")
    assert outcomes[".1.2.3.dcm.ab12.tmp"] == "removed"
    assert not repaired.unresolved
    assert list((data / "quarantine").rglob("9.9.9.dcm"))
    with sessions() as s:
        assert s.scalars(select(Series)).one().received_instances == 10  # +1 recorded, -1 lost
        assert s.scalar(select(Instance.id).where(
            Instance.sop_instance_uid == str(extra.SOPInstanceUID))) is not None
    assert checker(sessions, data, spool).run().findings == ()


def test_missing_results_mark_transfers_failed_and_requeue_the_job(sessions, stored) -> None:
    data, spool = stored
    now = utcnow()
    with sessions.begin() as s:
        series = s.scalars(select(Series)).one()
        job = Job(series_id=series.id, state=JobState.DONE, attempts=1, max_attempts=3,
                  created_at=now, updated_at=now, finished_at=now)
        s.add(job)
        s.flush()
        enqueue(s, job.id, [OutboundObject(ObjectKind.SEG, "1.2.840.10008.5.1.4.1.1.66.4",
                                           "1.2.3.4", f"results/job-{job.id}/dicom/seg.dcm")],
                [RemoteAE("ARCHIVE", "127.0.0.1", 104)], now)
    found = checker(sessions, data, spool).run()
    assert kinds(found) == [FindingKind.MISSING_RESULTS_DIR, FindingKind.MISSING_RESULT]
    checker(sessions, data, spool).run(repair=True)
    with sessions() as s:
        row = s.scalars(select(Outbound)).one()
        assert row.state is OutboundState.FAILED and "result file missing" in row.last_error
        assert s.scalars(select(Job)).one().state is JobState.PENDING


def test_a_changed_file_is_found_by_its_hash_and_conflicts_are_counted(sessions, stored,
                                                                       phantom_study) -> None:
    """Before: the row kept only a size, and a file with other bytes passed as consistent."""
    from seganypet_node.dicom.status import InstanceRejected, StoreStatus
    from seganypet_node.hashing import file_sha256

    data, spool = stored
    with sessions() as s:
        rows = list(s.scalars(select(Instance).order_by(Instance.id)))
    assert all(r.sha256 == file_sha256(spool.absolute(r.spool_path)) for r in rows)
    target = spool.absolute(rows[2].spool_path)
    damaged = bytearray(target.read_bytes())
    damaged[-10] ^= 0xFF  # same size, other pixels
    target.write_bytes(bytes(damaged))
    report = checker(sessions, data, spool).run(repair=True)
    assert [(f.kind, f.subject, f.repaired) for f in report.findings] == [
        (FindingKind.CHANGED_FILE, rows[2].spool_path, None)]
    # A re-send with other bytes is refused and counted on the stored instance.
    receiver = InstanceReceiver(spool, GroupCommitter(sessions.kw["bind"]))
    path = phantom_study.files[0]
    ds = pydicom.dcmread(path)
    ds.PatientName = "OTHER^CONTENT"
    from io import BytesIO
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    with pytest.raises(InstanceRejected) as refused:
        receiver.receive(ReceivedInstance("SCU", ds.SOPClassUID, ds.SOPInstanceUID,
                                          ds.file_meta.TransferSyntaxUID, ds,
                                          buffer.getvalue))
    assert refused.value.outcome.status is StoreStatus.DUPLICATE_CONFLICT
    with sessions() as s:
        first = s.scalars(select(Instance).where(
            Instance.sop_instance_uid == str(ds.SOPInstanceUID))).one()
    assert first.conflicts == 1
    assert first.sha256 == file_sha256(spool.absolute(first.spool_path))


def test_the_same_uid_under_another_series_is_refused(sessions, stored, phantom_study) -> None:
    """Before: acknowledged with 0x0000 (and an empty series made for it)."""
    from io import BytesIO

    from seganypet_node.dicom.status import InstanceRejected, StoreStatus

    data, spool = stored
    receiver = InstanceReceiver(spool, GroupCommitter(sessions.kw["bind"]))
    ds = pydicom.dcmread(phantom_study.files[0])
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.77"
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    with pytest.raises(InstanceRejected, match="under another series") as refused:
        receiver.receive(ReceivedInstance("SCU", ds.SOPClassUID, ds.SOPInstanceUID,
                                          ds.file_meta.TransferSyntaxUID, ds,
                                          buffer.getvalue))
    assert refused.value.outcome.status is StoreStatus.DUPLICATE_CONFLICT
    with sessions() as s:
        assert s.scalar(select(Series).where(
            Series.series_uid == "1.2.826.0.1.3680043.8.498.77")) is None
    assert not spool.absolute(spool.instance_path(
        str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))).exists()
    assert checker(sessions, data, spool).run().findings == ()


def test_attempt_folders_no_running_attempt_owns_are_found_and_removed(sessions,
                                                                       stored) -> None:
    data, spool = stored
    now = utcnow()
    with sessions.begin() as s:
        series = s.scalars(select(Series)).one()
        running = Job(series_id=series.id, state=JobState.RUNNING, attempts=2, max_attempts=3,
                      created_at=now, updated_at=now)
        s.add(running)
        s.flush()
        job_id = running.id
    results = data / "results"
    for name in (f".job-{job_id}-attempt-2", f".job-{job_id}-attempt-1", ".job-99-attempt-1",
                 ".job-99-replaced"):
        (results / name).mkdir(parents=True)
    found = checker(sessions, data, spool).run()
    assert sorted(f.subject for f in found.findings) == sorted(
        [f".job-{job_id}-attempt-1", ".job-99-attempt-1", ".job-99-replaced"])
    assert kinds(found) == [FindingKind.UNFINISHED_RESULTS] * 3
    checker(sessions, data, spool).run(repair=True)
    assert [p.name for p in results.iterdir()] == [f".job-{job_id}-attempt-2"]
