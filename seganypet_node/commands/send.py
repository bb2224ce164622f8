"""``send``: the outbound queue of results: list, retry failed transfers, send now."""

from __future__ import annotations

import argparse

from seganypet_node.commands import print_json
from seganypet_node.config import Config


def send(config: Config, args: argparse.Namespace) -> int:
    """List the outbound queue, put failed transfers back (--retry), or send now (--run)."""
    from seganypet_node.app import open_database
    from seganypet_node.db.engine import utcnow
    from seganypet_node.db.outbound import list_outbound, retry_failed
    from seganypet_node.dicom.scu import ResultSender

    database = open_database(config)
    if args.retry is not None:
        with database.sessions.begin() as session:
            count = retry_failed(session, utcnow(), args.retry)
        print(f"{count} failed transfer(s) queued again")
    if args.run:
        handled = ResultSender(config, database.sessions, "cli").drain()
        print(f"{handled} transfer(s) attempted")
    if args.retry is None and not args.run:
        with database.sessions.begin() as session:
            rows = list_outbound(session, args.limit)
        if args.json:
            print_json(rows)
            return 0
        print(f"{'id':>5} {'job':>5} {'object':<10} {'destination':<30} {'state':<8} "
              f"{'try':>3}  note")
        for r in rows:
            print(f"{r.row_id:>5} {r.job_id:>5} {r.kind:<10} {r.destination:<30} "
                  f"{r.state:<8} {r.attempts:>3}  {r.last_error or ''}")
    return 0
