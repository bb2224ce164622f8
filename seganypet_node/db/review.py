"""Rows of the review service: its users and the audit log of what they did.

Passwords are hashed above this layer (``review/passwords.py``); these functions store and
find the hashes, never a password.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seganypet_node.db.models import AuditEvent, ReviewUser
from seganypet_node.db.states import AuditAction
from seganypet_node.errors import NodeError

MAX_NAME = 64
MAX_DETAIL = 2000


class UserExistsError(NodeError, ValueError):
    """A review user of that name exists already."""


@dataclass(frozen=True)
class Reviewer:
    """A review user as the service sees them: who verifies, and for which organisation."""

    name: str
    full_name: str
    organisation: str
    password_hash: str


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    at: dt.datetime
    user_name: str
    action: AuditAction
    job_id: int | None
    detail: str


def add_reviewer(session: Session, reviewer: Reviewer, now: dt.datetime) -> None:
    """Store a new user.

    Raises
    ------
    UserExistsError
        The name is taken (names are never reused for another person).
    """
    if find_reviewer(session, reviewer.name) is not None:
        raise UserExistsError(f"user {reviewer.name!r} exists already")
    session.add(ReviewUser(name=reviewer.name, full_name=reviewer.full_name,
                           organisation=reviewer.organisation,
                           password_hash=reviewer.password_hash, created_at=now))
    try:
        session.flush()
    except IntegrityError:  # added by another process since the check
        raise UserExistsError(f"user {reviewer.name!r} exists already") from None


def find_reviewer(session: Session, name: str) -> Reviewer | None:
    """The user called ``name``, or None."""
    row = session.scalars(select(ReviewUser).where(ReviewUser.name == name)).first()
    if row is None:
        return None
    return Reviewer(row.name, row.full_name, row.organisation, row.password_hash)


def set_password_hash(session: Session, name: str, password_hash: str) -> None:
    """Replace a user's hash (after a rehash with stronger parameters)."""
    row = session.scalars(select(ReviewUser).where(ReviewUser.name == name)).one()
    row.password_hash = password_hash


def list_reviewers(session: Session) -> list[Reviewer]:
    """Every user, by name (hashes included: callers show only the names)."""
    rows = session.scalars(select(ReviewUser).order_by(ReviewUser.name)).all()
    return [Reviewer(r.name, r.full_name, r.organisation, r.password_hash) for r in rows]


def record_audit(session: Session, entry: AuditEntry) -> None:
    """Add one line to the audit log (in the caller's transaction, with what it records).

    Control characters are dropped: a refused login records the name a peer typed, which
    must not move the cursor or recolour the terminal of whoever reads ``audit``.
    """
    session.add(AuditEvent(at=entry.at, user_name=_printable(entry.user_name)[:MAX_NAME],
                           action=entry.action, job_id=entry.job_id,
                           detail=_printable(entry.detail)[:MAX_DETAIL]))


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())


def list_audit(session: Session, limit: int = 200, job_id: int | None = None
               ) -> list[AuditEntry]:
    """The newest lines first (``job_id``: only that job's)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if job_id is not None:
        query = query.where(AuditEvent.job_id == job_id)
    return [AuditEntry(r.at, r.user_name, r.action, r.job_id, r.detail)
            for r in session.scalars(query).all()]
