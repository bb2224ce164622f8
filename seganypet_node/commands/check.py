"""``check``: do the spool, the result folders and the database agree (``--repair``)."""

from __future__ import annotations

import argparse
import dataclasses

from seganypet_node.commands import print_json
from seganypet_node.config import Config


def check(config: Config, args: argparse.Namespace) -> int:
    """Print what disagrees (and what --repair did); exit 1 while anything is unresolved."""
    from seganypet_node.app import open_database
    from seganypet_node.dicom.spool import Spool
    from seganypet_node.maintenance.check import ConsistencyCheck

    database = open_database(config)
    report = ConsistencyCheck(database.sessions, Spool(config.spool_dir),
                              config.node.data_dir, config.results_dir).run(args.repair)
    if args.json:
        print_json({**dataclasses.asdict(report), "unresolved": len(report.unresolved)})
    else:
        print(f"{report.instances} instance row(s), {report.spool_files} spool file(s)")
        for finding in report.findings:
            outcome = finding.repaired or "not repaired (run with --repair)"
            print(f"  {finding.kind.value}: {finding.subject}: {outcome}")
        print("consistent" if not report.findings else
              f"{len(report.findings)} finding(s), {len(report.unresolved)} unresolved")
    return 1 if report.unresolved else 0
