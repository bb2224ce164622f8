"""``suv`` (header check) and ``send`` (the outbound queue) commands."""

from __future__ import annotations

import argparse
import sys

from seganypet_node.commands import print_json
from seganypet_node.config import Config


def suv(config: Config, args: argparse.Namespace) -> int:
    """Print each instance's SUVbw and SUL factors and the rule, or why there are none."""
    from seganypet_node.imaging.suv_report import instance_suv_factors

    rows = instance_suv_factors(args.files)
    if not rows:
        print("seganypet-node: no files found", file=sys.stderr)
        return 1
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(r.file)
            if r.suvbw is None:
                print(f"  units {r.units or '-'}: no SUV: {r.reason}")
                continue
            sul = f"{r.sul:.6g}" if r.sul is not None else "none (needs sex, height, weight)"
            lbm = f" (lean body mass {r.lean_body_mass_kg:.1f} kg)" \
                if r.lean_body_mass_kg is not None else ""
            print(f"  units {r.units}: SUVbw factor {r.suvbw:.6g}, SUL factor {sul}{lbm}")
            print(f"  per rescaled value (slope {r.rescale_slope:g}, intercept "
                  f"{r.rescale_intercept:g}); rule: {r.rule}")
    return 0 if any(r.suvbw is not None for r in rows) else 1


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
