import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from seganypet_node.db import jobs
from seganypet_node.db.models import Job
from seganypet_node.db.states import JobState
from tests.unit.test_ingest import T0, pet_header, record

LEASE = dt.timedelta(minutes=5)


@pytest.fixture
def pending(sessions) -> int:
    for n in (1, 2, 3):
        result = record(sessions, pet_header(n))
    return result.job_id


def claim(sessions, owner: str, now: dt.datetime = T0):
    with sessions.begin() as s:
        return jobs.claim_next(s, owner, LEASE, now)


def job_row(sessions, job_id: int) -> Job:
    with sessions() as s:
        return s.get(Job, job_id)


def test_claim_finish(sessions, pending) -> None:
    claimed = claim(sessions, "w1")
    assert claimed.job_id == pending and claimed.attempt == 1
    assert claimed.series_uid == "1.2.3.2" and claimed.study_uid == "1.2.3.1"
    assert claim(sessions, "w2") is None  # held under lease
    with sessions.begin() as s:
        assert jobs.finish(s, claimed, T0 + dt.timedelta(minutes=1))
    row = job_row(sessions, pending)
    assert row.state is JobState.DONE and row.finished_at is not None


def test_a_done_jobs_note_is_listed_for_the_operator(sessions, pending) -> None:
    from seganypet_node.db.listing import list_series

    claimed = claim(sessions, "w1")
    note = "urinary_bladder not reported (bladder centre 95 mm from the body midline)"
    with sessions.begin() as s:
        assert jobs.finish(s, claimed, T0 + dt.timedelta(minutes=1), note)
    assert job_row(sessions, pending).note == note
    with sessions() as s:
        assert [r.note for r in list_series(s, Path('/r')) if r.job_id == pending] == [note]


def test_expired_lease_is_claimed_again_and_old_owner_loses_it(sessions, pending) -> None:
    first = claim(sessions, "w1")
    second = claim(sessions, "w2", T0 + LEASE + dt.timedelta(seconds=1))
    assert second.job_id == first.job_id and second.attempt == 2
    with sessions.begin() as s:
        assert not jobs.finish(s, first, T0 + LEASE)
        assert not jobs.renew_lease(s, first, LEASE, T0 + LEASE)
        assert jobs.renew_lease(s, second, LEASE, T0 + LEASE)


def test_failure_retries_until_attempts_run_out(sessions, pending) -> None:
    for attempt in range(1, jobs.DEFAULT_MAX_ATTEMPTS + 1):
        claimed = claim(sessions, "w1")
        assert claimed.attempt == attempt
        with sessions.begin() as s:
            state = jobs.fail(s, claimed, f"boom {attempt}", T0)
    assert state is JobState.FAILED
    assert claim(sessions, "w1") is None
    row = job_row(sessions, pending)
    assert row.last_error == f"boom {jobs.DEFAULT_MAX_ATTEMPTS}"
    with sessions.begin() as s:
        jobs.retry(s, pending, T0)
    assert claim(sessions, "w1").attempt == jobs.DEFAULT_MAX_ATTEMPTS + 1


def test_lease_expiring_on_last_attempt_fails_the_job(sessions, pending) -> None:
    now = T0
    for _ in range(jobs.DEFAULT_MAX_ATTEMPTS):
        assert claim(sessions, "w", now) is not None
        now += LEASE + dt.timedelta(seconds=1)
    assert claim(sessions, "w", now) is None
    row = job_row(sessions, pending)
    assert row.state is JobState.FAILED and "lease expired" in row.last_error


def test_retry_of_pending_job_is_refused(sessions, pending) -> None:
    with pytest.raises(jobs.JobNotFoundError), sessions.begin() as s:
        jobs.retry(s, pending, T0)
    with pytest.raises(jobs.JobNotFoundError), sessions.begin() as s:
        jobs.retry(s, 999, T0)
    with sessions() as s:
        assert s.scalars(select(Job.state)).one() is JobState.PENDING


def test_retry_is_for_failed_jobs_and_rerun_for_done_ones(sessions, pending) -> None:
    """Before: ``--retry`` queued a done job again, while the README says failed ones."""
    claimed = claim(sessions, "w1")
    with sessions.begin() as s:
        assert jobs.finish(s, claimed, T0)
    done = r"is not failed: it is done: `jobs --rerun \d+` runs it again"
    with pytest.raises(jobs.JobNotFoundError, match=done), sessions.begin() as s:
        jobs.retry(s, pending, T0)
    with sessions.begin() as s:
        jobs.rerun(s, pending, T0)
    assert job_row(sessions, pending).state is JobState.PENDING
    pending_now = "is not done: it is pending"
    with pytest.raises(jobs.JobNotFoundError, match=pending_now), sessions.begin() as s:
        jobs.rerun(s, pending, T0)
    with pytest.raises(jobs.JobNotFoundError, match="does not exist"), sessions.begin() as s:
        jobs.rerun(s, 999, T0)


def test_the_listing_gives_the_result_folder_and_the_transfers(sessions, pending) -> None:
    from sqlalchemy import update

    from seganypet_node.db.listing import list_series
    from seganypet_node.db.models import Outbound
    from seganypet_node.db.outbound import enqueue
    from seganypet_node.db.states import OutboundState
    from seganypet_node.settings_values import RemoteAE
    from tests.unit.test_outbound import OBJECTS

    def row():
        with sessions() as s:
            return next(r for r in list_series(s, Path("/data/results")) if r.job_id == pending)

    assert row().results_dir is None and row().transfers.text() == "-"
    claimed = claim(sessions, "w1")
    with sessions.begin() as s:
        assert jobs.finish(s, claimed, T0)
        enqueue(s, pending, OBJECTS, [RemoteAE("PACS", "127.0.0.1", 104)], T0)
    assert row().results_dir == f"/data/results/job-{pending}"
    assert row().transfers.text() == "0/3 sent, 3 pending" and row().calling_ae == "SCU"
    with sessions.begin() as s:
        first, second = s.scalars(select(Outbound.id).order_by(Outbound.id)).all()[:2]
        s.execute(update(Outbound).where(Outbound.id == first).values(state=OutboundState.SENT))
        s.execute(update(Outbound).where(Outbound.id == second)
                  .values(state=OutboundState.FAILED))
    assert row().transfers.text() == "1/3 sent, 1 pending, 1 failed"


def test_jobs_says_where_results_are_and_why_nothing_was_sent(tmp_path) -> None:
    """Before: UIDs cut short, no result folder, and "caller has no allow-list entry" only in
    the serve log."""
    from seganypet_node.db.engine import make_engine, make_session_factory
    from seganypet_node.db.migrate import upgrade
    from tests.support import cli

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    series_uid = "1.2.826.0.1.3680043.8.498.1234567890123456789012345678901"
    for n in (1, 2, 3):
        job_id = record(factory, pet_header(n, series=series_uid)).job_id
    with factory.begin() as s:
        claimed = jobs.claim_next(s, "w1", LEASE, T0)
        assert jobs.finish(s, claimed, T0)
    engine.dispose()
    where = ("--data-dir", str(data_dir))
    table = cli("jobs", *where)
    assert table.returncode == 0
    assert ("not sent: caller SCU has no [access] allowed_callers entry saying where and "
            "[send] destinations is empty") in table.stdout
    assert "--wide" in table.stdout and series_uid not in table.stdout
    wide = cli("jobs", "--wide", *where).stdout
    assert f"series   {series_uid} (PT, 3/3 received" in wide
    assert f"results  {data_dir / 'results' / f'job-{job_id}'}" in wide
    assert "caller   SCU" in wide
    sent_back = cli("jobs", *where, env={"SEGANYPET_ACCESS_ALLOWED_CALLERS": "SCU@127.0.0.1:104"})
    assert "not sent: it had no destination when it finished" in sent_back.stdout
    again = cli("jobs", *where, "--retry", str(job_id))
    assert again.returncode == 1 and f"`jobs --rerun {job_id}`" in again.stderr
    assert cli("jobs", *where, "--rerun", str(job_id)).returncode == 0


def test_the_state_filter_finds_an_older_failed_job_past_the_newest_rows(sessions,
                                                                        pending) -> None:
    """Before: the review API filtered the newest ``limit`` rows, so an older failed job
    behind newer series was not listed."""
    from seganypet_node.db.listing import list_series

    with sessions.begin() as s:
        jobs.fail(s, claim(sessions, "w1"), "broken", T0, permanent=True)
    for n in (1, 2, 3):
        record(sessions, pet_header(n, series="1.2.3.7"), T0 + dt.timedelta(hours=1))
    with sessions() as s:
        assert [r.series_uid for r in list_series(s, Path("/r"), limit=1)] == ["1.2.3.7"]
        failed = list_series(s, Path("/r"), limit=1, job_state=JobState.FAILED)
    assert [r.job_id for r in failed] == [pending]
