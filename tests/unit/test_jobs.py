import datetime as dt

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
        assert [r.note for r in list_series(s) if r.job_id == pending] == [note]


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
