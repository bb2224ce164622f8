"""``review`` (the review service alone), ``user`` (who may log in to it) and ``audit``
(what they did)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from seganypet_node.commands import print_json
from seganypet_node.config import Config
from seganypet_node.errors import UsageError


def review(config: Config, args: argparse.Namespace) -> int:
    """Run the review service without the DICOM node (until SIGTERM or Ctrl-C)."""
    from seganypet_node.app import open_database
    from seganypet_node.bootstrap import start_log_file
    from seganypet_node.review.server import ReviewServer

    if args.port is not None:
        config = config.with_overrides("review", port=args.port)
    if args.host is not None:
        config = config.with_overrides("review", host=args.host)
    start_log_file(config, "review")
    stop = args.stop_signal()
    server = ReviewServer(config, open_database(config).sessions)
    server.start()
    print(f"seganypet-node review: http{'s' if config.review.tls else ''}://"
          f"{server.host}:{server.port}/", flush=True)
    stop.wait()
    server.stop()
    return 0


def user(config: Config, args: argparse.Namespace) -> int:
    """``user add NAME``: a new review user (password from the terminal, or one line of
    standard input with ``--password-stdin``); ``user list``: the users."""
    from seganypet_node.app import open_database
    from seganypet_node.db.engine import utcnow
    from seganypet_node.db.review import (
        AuditEntry,
        Reviewer,
        add_reviewer,
        list_reviewers,
        record_audit,
    )
    from seganypet_node.db.states import AuditAction
    from seganypet_node.review.passwords import hash_password

    database = open_database(config)
    if args.user_command == "list":
        with database.sessions.begin() as session:
            people = list_reviewers(session)
        for person in people:
            print(f"{person.name:<20} {person.full_name:<30} {person.organisation}")
        return 0
    password_hash = hash_password(_new_password(args.password_stdin))
    with database.sessions.begin() as session:
        add_reviewer(session, Reviewer(args.name, args.full_name or args.name,
                                       args.organisation, password_hash), utcnow())
        record_audit(session, AuditEntry(utcnow(), "(command line)", AuditAction.USER_ADDED,
                                         None, f"user {args.name}"))
    print(f"user {args.name} added")
    return 0


def audit(config: Config, args: argparse.Namespace) -> int:
    """The audit log, the newest first."""
    from seganypet_node.app import open_database
    from seganypet_node.db.review import list_audit

    with open_database(config).sessions.begin() as session:
        entries = list_audit(session, args.limit, args.job)
    if args.json:
        print_json(entries)
        return 0
    for e in entries:
        job = f"job {e.job_id}" if e.job_id is not None else "-"
        print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.user_name:<16} {e.action.value:<18} {job:<8} "
              f"{e.detail}")
    return 0


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def add_parsers(commands: Any, common: argparse.ArgumentParser,
                stop_signal: Callable[[], Any]) -> None:
    """The ``review``, ``user`` and ``audit`` subcommands."""
    served = commands.add_parser("review", parents=[common],
                                 help="run the review service (dashboard) alone")
    served.add_argument("--port", type=int, help="[review] port")
    served.add_argument("--host", help="[review] host")
    served.set_defaults(handler=review, stop_signal=stop_signal)

    people = commands.add_parser("user", parents=[common], help="review service users")
    actions = people.add_subparsers(dest="user_command", required=True)
    added = actions.add_parser("add", parents=[common], help="add a user (asks a password)")
    added.add_argument("name")
    added.add_argument("--full-name", help="as written in verified reports")
    added.add_argument("--organisation", default="", help="the user's organisation")
    added.add_argument("--password-stdin", action="store_true",
                       help="read the password as one line of standard input")
    actions.add_parser("list", parents=[common], help="list the users")
    people.set_defaults(handler=user)

    log = commands.add_parser("audit", parents=[common],
                              help="what review users did, the newest first")
    log.add_argument("--limit", type=int, default=200)
    log.add_argument("--job", type=int, metavar="JOB_ID", help="only this job's steps")
    log.add_argument("--json", action="store_true", help="machine-readable output")
    log.set_defaults(handler=audit)
