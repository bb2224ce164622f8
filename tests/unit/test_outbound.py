"""The outbound queue: one row per object x destination, backoff, give-up limit, leases, retry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from seganypet_node.config import ConfigError, load_config
from seganypet_node.db.engine import utcnow
from seganypet_node.db.models import Job, Series, Study
from seganypet_node.db.outbound import (
    OutboundObject,
    RetryPolicy,
    claim_batch,
    enqueue,
    list_outbound,
    mark_failed,
    mark_sent,
    pending_count,
    retry_failed,
)
from seganypet_node.db.states import JobState, OutboundState, SeriesState
from seganypet_node.dicom.scu import ResultSender, result_destinations
from seganypet_node.outputs.kinds import ObjectKind
from seganypet_node.settings_values import RemoteAE
from tests.support import cli, free_port

LEASE = dt.timedelta(seconds=60)
POLICY = RetryPolicy(max_attempts=3, initial_s=10, max_s=25)
PACS = RemoteAE("PACS", "127.0.0.1", 104)
ARCHIVE = RemoteAE("ARCHIVE", "127.0.0.1", 105)
OBJECTS = [OutboundObject(kind, "1.2.840.10008.5.1.4.1.1.66.4", f"1.2.3.{n}",
                          f"results/job-1/dicom/{kind}.dcm")
           for n, kind in enumerate(ObjectKind)]


def add_done_job(session: Session, now: dt.datetime) -> int:
    """A study, its complete PET series from PACS and the finished job; returns the job id."""
    study = Study(study_uid="1.2.3", created_at=now)
    session.add(study)
    session.flush()
    series = Series(study_id=study.id, series_uid="1.2.3.4", modality="PT",
                    sop_class_uid="1.2.840.10008.5.1.4.1.1.128", calling_ae="PACS",
                    received_instances=1, state=SeriesState.COMPLETE,
                    first_received_at=now, last_received_at=now)
    session.add(series)
    session.flush()
    job = Job(series_id=series.id, state=JobState.DONE, attempts=1, max_attempts=3,
              created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job.id


@pytest.fixture
def job_id(sessions) -> int:
    with sessions.begin() as s:
        return add_done_job(s, utcnow())


def test_one_row_per_object_and_destination_and_enqueue_is_idempotent(sessions, job_id) -> None:
    now = utcnow()
    with sessions.begin() as s:
        assert enqueue(s, job_id, OBJECTS, [PACS, ARCHIVE], now) == 6
        assert enqueue(s, job_id, OBJECTS, [PACS, ARCHIVE], now) == 0
        assert pending_count(s) == 6


def test_a_batch_holds_one_destination(sessions, job_id) -> None:
    now = utcnow()
    with sessions.begin() as s:
        enqueue(s, job_id, OBJECTS, [PACS, ARCHIVE], now)
        batch = claim_batch(s, "a", LEASE, now, limit=10)
        assert {item.destination for item in batch} == {PACS} and len(batch) == 3
        second = claim_batch(s, "b", LEASE, now, limit=10)
        assert {item.destination for item in second} == {ARCHIVE}
        assert claim_batch(s, "c", LEASE, now, limit=10) == []  # all held


def test_failures_back_off_doubling_then_give_up(sessions, job_id) -> None:
    now = utcnow()
    with sessions.begin() as s:
        enqueue(s, job_id, OBJECTS[:1], [PACS], now)
    waits = []
    for attempt in range(1, 4):
        with sessions.begin() as s:
            (item,) = claim_batch(s, "a", LEASE, now, limit=10)
            assert item.attempt == attempt
            state = mark_failed(s, item.row_id, "a", "refused", now, POLICY)
        if state is OutboundState.FAILED:
            break
        with sessions.begin() as s:
            assert claim_batch(s, "a", LEASE, now, limit=10) == []  # not due yet
            row = list_outbound(s)[0]
            assert row.state == "pending"
        waits.append(POLICY.delay(attempt).total_seconds())
        now += POLICY.delay(attempt)
    assert waits == [10, 20] and state is OutboundState.FAILED
    assert POLICY.delay(5).total_seconds() == 25  # capped
    with sessions.begin() as s:
        assert retry_failed(s, now) == 1
        (item,) = claim_batch(s, "a", LEASE, now, limit=10)
        assert item.attempt == 1


def test_expired_lease_passes_the_batch_to_another_sender(sessions, job_id) -> None:
    now = utcnow()
    with sessions.begin() as s:
        enqueue(s, job_id, OBJECTS[:1], [PACS], now)
        (first,) = claim_batch(s, "dead", LEASE, now, limit=10)
    later = now + LEASE + dt.timedelta(seconds=1)
    with sessions.begin() as s:
        (again,) = claim_batch(s, "alive", LEASE, later, limit=10)
        assert again.row_id == first.row_id and again.attempt == 2
        assert not mark_sent(s, first.row_id, "dead", later)  # the dead sender lost it
        assert mark_sent(s, again.row_id, "alive", later)
        assert list_outbound(s)[0].state == "sent"


def test_unreachable_destination_is_recorded_with_the_reason(sessions, job_id, tmp_path) -> None:
    config = load_config(None, environ={}).with_overrides(
        "node", data_dir=str(tmp_path), acse_timeout=2, network_timeout=2)
    config = config.with_overrides("send", retry_initial_s=60)
    (tmp_path / "results/job-1/dicom").mkdir(parents=True)
    from pydicom.dataset import Dataset, FileMetaDataset
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = OBJECTS[0].sop_class_uid, OBJECTS[0].sop_instance_uid
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.save_as(tmp_path / OBJECTS[0].relative_path, enforce_file_format=True)
    closed = RemoteAE("NOBODY", "127.0.0.1", free_port())
    with sessions.begin() as s:
        enqueue(s, job_id, OBJECTS, [closed], utcnow())
    assert ResultSender(config, sessions).run_once() == 3
    with sessions.begin() as s:
        rows = {r.kind: r for r in list_outbound(s)}
    assert rows["seg"].state == "pending" and "no association" in rows["seg"].last_error
    assert "cannot read" in rows["sr"].last_error  # its file is missing: said, not crashed


def test_a_stopping_sender_hands_its_batch_back_without_spending_attempts(
        sessions, job_id, tmp_path) -> None:
    """Before: the rows stayed ``sending`` until their lease ran out (300 s) and the
    interrupted try counted as one of the attempts."""
    config = load_config(None, environ={}).with_overrides(
        "node", data_dir=str(tmp_path), acse_timeout=2, network_timeout=2)
    (tmp_path / "results/job-1/dicom").mkdir(parents=True)
    from pydicom.dataset import Dataset, FileMetaDataset
    for item in OBJECTS:
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = item.sop_class_uid, item.sop_instance_uid
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        ds.save_as(tmp_path / item.relative_path, enforce_file_format=True)
    now = utcnow()
    with sessions.begin() as s:
        enqueue(s, job_id, OBJECTS, [RemoteAE("NOBODY", "127.0.0.1", free_port())], now)
    sender = ResultSender(config, sessions)
    sender.request_stop()  # SIGTERM arrived as the batch was claimed
    assert sender.run_once() == 0
    with sessions.begin() as s:
        rows = list_outbound(s)
        assert [(r.state, r.attempts, r.last_error) for r in rows] == [("pending", 0, None)] * 3
        assert len(claim_batch(s, "next-node", LEASE, utcnow(), limit=10)) == 3  # due at once


def test_results_go_to_the_caller_and_fixed_destinations_once(tmp_path) -> None:
    environ = {"SEGANYPET_ACCESS_ALLOWED_CALLERS": "PACS@127.0.0.1:104",
               "SEGANYPET_SEND_DESTINATIONS": "PACS@127.0.0.1:104,ARCHIVE@127.0.0.1:105"}
    config = load_config(None, environ=environ)
    assert result_destinations(config, "PACS") == (PACS, ARCHIVE)  # PACS once
    only_archive = config.with_overrides("send", destinations="ARCHIVE@127.0.0.1:105")
    assert result_destinations(only_archive, "STRANGER") == (ARCHIVE,)  # no entry: no way back
    assert result_destinations(only_archive, "PACS") == (PACS, ARCHIVE)
    no_caller = config.with_overrides("send", to_caller=False, destinations=[])
    assert result_destinations(no_caller, "PACS") == ()


def test_a_caller_can_have_its_results_go_back_under_another_ae_title(tmp_path) -> None:
    """A console that pushes for a PACS that stores (issue 25): before, results went back
    only to the caller's own AE title."""
    config = load_config(None).with_overrides("access", allowed_callers=[
        {"ae_title": "CONSOLE", "host": "127.0.0.1", "port": 11112,
         "return_ae_title": "PACS_STORE"},
        {"ae_title": "PACS", "host": "127.0.0.1", "port": 104}])
    assert result_destinations(config, "CONSOLE") == (RemoteAE("PACS_STORE", "127.0.0.1",
                                                               11112),)
    assert result_destinations(config, "PACS") == (PACS,)
    with pytest.raises(ConfigError, match="return_ae_title"):
        config.with_overrides("access", allowed_callers=[
            {"ae_title": "CONSOLE", "host": "h", "port": 1,
             "return_ae_title": "A_TITLE_TOO_LONG_X"}])
    with pytest.raises(ConfigError, match="unknown key 'return_ae'"):
        config.with_overrides("access", allowed_callers=[
            {"ae_title": "CONSOLE", "host": "h", "port": 1, "return_ae": "PACS"}])
    with pytest.raises(ConfigError, match="no networks or return_ae_title here"):
        config.with_overrides("send", destinations=[
            {"ae_title": "ARCHIVE", "host": "h", "port": 1, "return_ae_title": "X"}])


def test_send_command_lists_retries_and_runs(tmp_path) -> None:
    from seganypet_node.app import open_database

    config = load_config(None, environ={}).with_overrides("node", data_dir=str(tmp_path))
    database = open_database(config)
    now = utcnow()
    with database.sessions.begin() as s:
        job_id = add_done_job(s, now)
        enqueue(s, job_id, OBJECTS[:1], [RemoteAE("GONE", "127.0.0.1", free_port())], now)
        (item,) = claim_batch(s, "x", LEASE, now, limit=1)
        mark_failed(s, item.row_id, "x", "refused", now, RetryPolicy(1, 1, 1))
    database.engine.dispose()
    listed = cli("--data-dir", str(tmp_path), "send")
    assert listed.returncode == 0 and "failed" in listed.stdout and "refused" in listed.stdout
    retried = cli("--data-dir", str(tmp_path), "send", "--retry")
    assert "1 failed transfer(s) queued again" in retried.stdout
    ran = cli("--data-dir", str(tmp_path), "send", "--run")
    assert "1 transfer(s) attempted" in ran.stdout, ran.stderr
