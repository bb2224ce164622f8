import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.db.ingest import record_instance
from seganypet_node.db.models import Instance, Job, Series
from seganypet_node.db.states import CompletionRule, JobState, SeriesState
from seganypet_node.dicom.completion import QuietPeriodSweeper, skip_reason
from seganypet_node.dicom.header import InstanceHeader
from seganypet_node.dicom.sop import CT_IMAGE_STORAGE, PET_IMAGE_STORAGE

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def pet_header(
    n: int, series: str = "1.2.3.2", slices: int | None = 3, **changes
) -> InstanceHeader:
    base = InstanceHeader(
        sop_class_uid=PET_IMAGE_STORAGE, sop_instance_uid=f"{series}.{n}", study_uid="1.2.3.1",
        series_uid=series, modality="PT", frame_of_reference_uid="1.2.3.9", series_number=2,
        instance_number=n, number_of_slices=slices, number_of_frames=1,
        corrected_image=("DECY", "ATTN"), patient_id="P1", study_date="20260101",
        accession_number=None,
    )
    return dataclasses.replace(base, **changes)


def record(sessions: sessionmaker[Session], header: InstanceHeader, now: dt.datetime = T0):
    with sessions.begin() as session:
        return record_instance(
            session.connection(), header, spool_path=f"x/{header.sop_instance_uid}.dcm",
            size_bytes=10,
            transfer_syntax_uid="1.2.840.10008.1.2.1", calling_ae="SCU",
            skip_reason=skip_reason(header), now=now,
        )


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(model.id))) or 0


def test_series_completes_when_number_of_slices_is_reached(sessions) -> None:
    results = [record(sessions, pet_header(n)) for n in (1, 2, 3)]
    assert [r.job_id for r in results[:2]] == [None, None]
    assert results[2].job_id is not None
    with sessions() as session:
        series = session.scalars(select(Series)).one()
        job = session.scalars(select(Job)).one()
    assert (series.state, series.completion_rule, series.received_instances) == (
        SeriesState.COMPLETE, CompletionRule.COUNT, 3)
    assert job.state is JobState.PENDING and job.attempts == 0


def test_resent_instance_is_idempotent(sessions) -> None:
    for _ in range(2):
        for n in (1, 2, 3):
            record(sessions, pet_header(n))
    assert count(sessions, Instance) == 3
    assert count(sessions, Job) == 1
    assert record(sessions, pet_header(1)).duplicate


def test_instance_after_completion_is_kept_without_second_job(sessions) -> None:
    for n in (1, 2, 3):
        record(sessions, pet_header(n))
    late = record(sessions, pet_header(4))
    assert late.late and late.job_id is None
    assert count(sessions, Instance) == 4
    assert count(sessions, Job) == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"corrected_image": ("DECY",)}, "not attenuation corrected"),
        ({"sop_class_uid": CT_IMAGE_STORAGE, "modality": "CT"}, "CT series: stored, not segmented"),
    ],
)
def test_series_without_job_records_the_reason(sessions, changes, reason) -> None:
    for n in (1, 2, 3):
        assert record(sessions, pet_header(n, **changes)).job_id is None
    with sessions() as session:
        series = session.scalars(select(Series)).one()
    assert series.state is SeriesState.COMPLETE
    assert reason in series.skip_reason
    assert count(sessions, Job) == 0


def test_quiet_period_completes_series_without_number_of_slices(sessions) -> None:
    record(sessions, pet_header(1, slices=None), now=T0)
    sweeper = QuietPeriodSweeper(sessions, dt.timedelta(seconds=30), 1.0)
    assert sweeper.sweep(now=T0 + dt.timedelta(seconds=29)) == []
    created = sweeper.sweep(now=T0 + dt.timedelta(seconds=31))
    assert len(created) == 1
    assert sweeper.sweep(now=T0 + dt.timedelta(seconds=90)) == []
    with sessions() as session:
        assert session.scalars(select(Series)).one().completion_rule is CompletionRule.QUIET


def test_the_sweeper_thread_completes_a_quiet_series_and_wakes_the_workers(sessions) -> None:
    import threading

    record(sessions, pet_header(1, slices=None), now=T0)  # quiet for months by now
    woken = threading.Event()
    sweeper = QuietPeriodSweeper(sessions, dt.timedelta(seconds=30), 0.05, woken.set)
    sweeper.start()
    try:
        assert woken.wait(10)
    finally:
        sweeper.stop()
    assert count(sessions, Job) == 1


def test_quiet_period_also_completes_a_series_that_never_reaches_its_count(sessions) -> None:
    record(sessions, pet_header(1, slices=5), now=T0)
    sweeper = QuietPeriodSweeper(sessions, dt.timedelta(seconds=30), 1.0)
    assert len(sweeper.sweep(now=T0 + dt.timedelta(minutes=1))) == 1


def test_concurrent_associations_make_exactly_one_job(sessions) -> None:
    slices = 40
    errors: list[BaseException] = []

    def send(numbers: range) -> None:
        try:
            for n in numbers:
                record(sessions, pet_header(n, slices=slices))
        except BaseException as exc:
            errors.append(exc)

    # Four senders, overlapping halves: every instance arrives twice.
    threads = [threading.Thread(target=send, args=(r,)) for r in
               (range(1, 21), range(21, 41), range(1, 41), range(40, 0, -1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(sessions, Instance) == slices
    assert count(sessions, Job) == 1
    with sessions() as session:
        assert session.scalars(select(Series)).one().received_instances == slices


def test_same_uid_under_another_series_makes_no_series(sessions) -> None:
    """Before: the re-sent UID created an empty series (and later a job for 0 instances)."""
    record(sessions, pet_header(1))
    again = record(sessions, dataclasses.replace(pet_header(1), series_uid="1.2.3.7"))
    assert again.duplicate and again.series_id is None
    assert again.stored_path == "x/1.2.3.2.1.dcm"
    with sessions() as session:
        assert session.scalars(select(Series.series_uid)).all() == ["1.2.3.2"]


def test_a_series_mixing_modalities_gets_a_reason_and_no_job(sessions) -> None:
    """Before: PT and CT under one series UID completed by count and got a job."""
    record(sessions, pet_header(1))
    record(sessions, pet_header(2, modality="CT", sop_class_uid=CT_IMAGE_STORAGE))
    done = record(sessions, pet_header(3))
    assert done.job_id is None
    with sessions() as session:
        series = session.scalars(select(Series)).one()
    assert series.state is SeriesState.COMPLETE
    assert series.skip_reason == "series mixes modalities PT and CT: stored, not segmented"
    assert count(sessions, Job) == 0


def test_an_empty_series_never_gets_a_job(sessions) -> None:
    from seganypet_node.db.ingest import complete_series

    record(sessions, pet_header(1, slices=None))
    with sessions.begin() as session:
        series = session.scalars(select(Series)).one()
        series.received_instances = 0  # as if its only instance was removed by `check`
    with sessions.begin() as session:
        assert complete_series(session.connection(), series.id, CompletionRule.QUIET,
                               T0) is None
    assert count(sessions, Job) == 0
