"""``jobs``: the received series and their jobs, each saying where its results are and why
nothing was sent; ``--retry`` a failed job, ``--rerun`` a done one."""

from __future__ import annotations

import argparse
import dataclasses

from seganypet_node.commands import print_json
from seganypet_node.config import Config
from seganypet_node.db.listing import SeriesRow

SHORT_UID = 28


def jobs(config: Config, args: argparse.Namespace) -> int:
    """List series and jobs (``--wide``: full UIDs, caller and result folder), or queue one
    job again (``--retry`` when failed, ``--rerun`` when done)."""
    from seganypet_node.app import open_database
    from seganypet_node.db.engine import utcnow
    from seganypet_node.db.jobs import rerun, retry
    from seganypet_node.db.listing import list_series

    database = open_database(config)
    for job_id, requeue, verb in ((args.retry, retry, "queued again"),
                                  (args.rerun, rerun, "queued to run again")):
        if job_id is not None:
            with database.sessions.begin() as session:
                requeue(session, job_id, utcnow())
            print(f"job {job_id} {verb}")
            return 0
    with database.sessions.begin() as session:
        rows = [_explained(config, r) for r in list_series(session, config.results_dir,
                                                           args.limit)]
    if args.json:
        print_json(rows)
    elif args.wide:
        _print_wide(rows)
    else:
        _print_table(rows)
    return 0


def _explained(config: Config, row: SeriesRow) -> SeriesRow:
    """``row`` with the reason nothing was sent as its note, where a done job queued nothing."""
    from seganypet_node.dicom.scu import why_not_sent

    if row.job_state != "done" or row.transfers.total:
        return row
    reason = (why_not_sent(config, row.calling_ae)
              or "not sent: it had no destination when it finished (the configuration has one "
                 "now)")
    return dataclasses.replace(row, note="; ".join(n for n in (row.note, reason) if n))


def _print_table(rows: list[SeriesRow]) -> None:
    print(f"{'series':<{SHORT_UID}} {'mod':<4} {'recv':>9} {'series state':<16} {'job':>5} "
          f"{'job state':<9} {'try':>3} {'sent':<12} note")
    for r in rows:
        print(f"{_short(r.series_uid):<{SHORT_UID}} {r.modality:<4} {_received(r):>9} "
              f"{_series_state(r):<16} {r.job_id or '-':>5} {r.job_state or '-':<9} "
              f"{r.attempts or 0:>3} {r.transfers.text():<12} {_note(r)}")
    if any(len(r.series_uid) > SHORT_UID for r in rows):
        print("(series UIDs shortened: --wide or --json shows them whole, with the result "
              "folders)")


def _print_wide(rows: list[SeriesRow]) -> None:
    """One block per series: nothing shortened, so any value can be copied."""
    for r in rows:
        job = (f"job {r.job_id}: {r.job_state}, attempt {r.attempts or 0}"
               if r.job_id is not None else "no job")
        print(f"series   {r.series_uid} ({r.modality}, {_received(r)} received, "
              f"{_series_state(r)})")
        print(f"study    {r.study_uid}")
        print(f"caller   {r.calling_ae}; last instance {r.last_received_at:%Y-%m-%d %H:%M:%S}")
        print(f"job      {job}; transfers {r.transfers.text()}")
        if r.results_dir:
            print(f"results  {r.results_dir}")
        if _note(r):
            print(f"note     {_note(r)}")
        print()


def _received(r: SeriesRow) -> str:
    return f"{r.received}/{r.expected}" if r.expected else str(r.received)


def _series_state(r: SeriesRow) -> str:
    return r.series_state + (f" ({r.completion_rule})" if r.completion_rule else "")


def _note(r: SeriesRow) -> str:
    return r.skip_reason or r.last_error or r.note or ""


def _short(uid: str) -> str:
    return uid if len(uid) <= SHORT_UID else "…" + uid[-(SHORT_UID - 1):]
