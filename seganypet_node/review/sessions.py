"""Logged-in sessions of the review service: random tokens held in memory, never in a URL.

A session ends after ``idle`` without a request, after :data:`MAX_LIFETIME` in any case, at
logout, and when the service stops (a restart asks everyone to log in again). Each carries
its own CSRF token, which every request that changes something must send back in the
``X-CSRF-Token`` header: a page of another site can make a browser post a form with the
session's cookie, but it cannot read the token or set the header.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

MAX_LIFETIME = dt.timedelta(hours=12)
MAX_SESSIONS = 1000  # the oldest logins are ended beyond this: no peer can fill the memory
TOKEN_BYTES = 32


@dataclass(frozen=True)
class LoginSession:
    """Who is logged in, and until when."""

    user_name: str
    full_name: str
    organisation: str
    csrf_token: str
    started: float  # seconds of the store's clock
    last_seen: float

    def csrf_matches(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return token is not None and hmac.compare_digest(token, self.csrf_token)


class LoginSessions:
    """Session tokens to their :class:`LoginSession`, thread-safe.

    Parameters
    ----------
    idle : datetime.timedelta
        A session not used for this long is over.
    clock : callable, optional
        Seconds (monotonic); tests pass their own.
    """

    def __init__(self, idle: dt.timedelta,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle.total_seconds()
        self._clock = clock
        self._sessions: dict[str, LoginSession] = {}
        self._lock = threading.Lock()

    def start(self, user_name: str, full_name: str, organisation: str) -> str:
        """A new session's token (the cookie's value)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        session = LoginSession(user_name, full_name, organisation,
                               secrets.token_urlsafe(TOKEN_BYTES), now, now)
        with self._lock:
            self._drop_expired(now)
            while len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda t: self._sessions[t].started)
                del self._sessions[oldest]
            self._sessions[token] = session
        return token

    def find(self, token: str | None) -> LoginSession | None:
        """The live session of ``token`` (its idle time restarts), or None."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[token]
                return None
            session = replace(session, last_seen=now)
            self._sessions[token] = session
            return session

    def end(self, token: str | None) -> LoginSession | None:
        """End a session (logout); the session it was, or None."""
        with self._lock:
            return self._sessions.pop(token or "", None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expired(self, session: LoginSession, now: float) -> bool:
        return (now - session.last_seen > self.idle_s
                or now - session.started > MAX_LIFETIME.total_seconds())

    def _drop_expired(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]
