"""Who may use the review service: login, logout, and the checks every request passes.

Every page and JSON operation but the login page and the static assets needs a live
session (:mod:`seganypet_node.review.sessions`); every operation that changes something
also needs the session's CSRF token in ``X-CSRF-Token``. The session cookie is HttpOnly and
SameSite=Strict (and Secure under TLS).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.config import Config
from seganypet_node.db.review import AuditEntry, find_reviewer, record_audit, set_password_hash
from seganypet_node.db.states import AuditAction
from seganypet_node.review.drafts import DraftStore
from seganypet_node.review.passwords import hash_password, needs_rehash, password_matches
from seganypet_node.review.sessions import LoginSession, LoginSessions

COOKIE = "seganypet_session"
CSRF_HEADER = "X-CSRF-Token"
# argon2 costs tens of milliseconds of CPU a check: a flood of logins waits here instead of
# taking the machine's cores from the node.
_CHECKS = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class ReviewContext:
    """What the service's routes share: the configuration, the database, the logins, the
    clock."""

    config: Config
    database: sessionmaker[Session]
    logins: LoginSessions
    now: Callable[[], dt.datetime]
    drafts: DraftStore

    def audit(self, session: Session, user_name: str, action: AuditAction,
              job_id: int | None = None, detail: str = "") -> None:
        """Record one step in the audit log, in ``session``'s transaction."""
        record_audit(session, AuditEntry(self.now(), user_name, action, job_id, detail))


def log_in(context: ReviewContext, user_name: str, password: str) -> str | None:
    """A new session's token when the name and password match a user, else None; both
    outcomes go to the audit log."""
    with context.database.begin() as session:
        reviewer = find_reviewer(session, user_name)
        with _CHECKS:
            matched = password_matches(reviewer.password_hash if reviewer else None, password)
        if reviewer is None or not matched:
            context.audit(session, user_name, AuditAction.LOGIN_REFUSED,
                          detail="unknown user" if reviewer is None else "wrong password")
            return None
        if needs_rehash(reviewer.password_hash):
            set_password_hash(session, reviewer.name, hash_password(password))
        context.audit(session, reviewer.name, AuditAction.LOGIN)
    return context.logins.start(reviewer.name, reviewer.full_name, reviewer.organisation)


def log_out(context: ReviewContext, token: str | None) -> None:
    """End the session of ``token`` (nothing when there is none)."""
    ended = context.logins.end(token)
    if ended is not None:
        with context.database.begin() as session:
            context.audit(session, ended.user_name, AuditAction.LOGOUT)


def context_of(request: Request) -> ReviewContext:
    """The service's shared :class:`ReviewContext` (set by ``web.review_app``)."""
    context: ReviewContext = request.app.state.review
    return context


def login_of(request: Request) -> LoginSession | None:
    """The live session of the request's cookie, or None."""
    return context_of(request).logins.find(request.cookies.get(COOKIE))


def require_login(request: Request) -> LoginSession:
    """FastAPI dependency: the request's session; 401 without one."""
    found = login_of(request)
    if found is None:
        raise HTTPException(401, "log in first (no session, or it expired)")
    return found


def require_change(request: Request) -> LoginSession:
    """FastAPI dependency for changes: a session and its CSRF token; 401 or 403."""
    found = require_login(request)
    if not found.csrf_matches(request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"the {CSRF_HEADER} header is missing or wrong")
    return found


def same_origin(request: Request) -> bool:
    """Whether a form post comes from the service's own pages (browsers send Origin with
    every POST; a request without it is not a browser's cross-site one)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")
