"""Logins of the review service: expiry, CSRF tokens, a bounded store, password hashes."""

from __future__ import annotations

import datetime as dt

import pytest

from seganypet_node.review.passwords import (
    WeakPasswordError,
    hash_password,
    needs_rehash,
    password_matches,
)
from seganypet_node.review.sessions import MAX_LIFETIME, MAX_SESSIONS, LoginSessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_its_idle_time_and_each_use_restarts_it() -> None:
    clock = Clock()
    logins = LoginSessions(dt.timedelta(minutes=30), clock)
    token = logins.start("alice", "Dr Alice", "NM")
    clock.now += 29 * 60
    assert logins.find(token) is not None  # used: 30 more minutes from here
    clock.now += 29 * 60
    assert logins.find(token) is not None
    clock.now += 31 * 60
    assert logins.find(token) is None
    assert logins.find(token) is None and len(logins) == 0  # gone, not only refused


def test_a_session_in_use_still_ends_after_its_lifetime() -> None:
    clock = Clock()
    logins = LoginSessions(dt.timedelta(minutes=30), clock)
    token = logins.start("alice", "", "")
    for _ in range(int(MAX_LIFETIME.total_seconds() // 600)):
        clock.now += 600
        assert logins.find(token) is not None
    clock.now += 601
    assert logins.find(token) is None


def test_tokens_are_unguessable_and_the_csrf_token_is_the_sessions_own() -> None:
    logins = LoginSessions(dt.timedelta(minutes=30))
    first, second = logins.start("a", "", ""), logins.start("b", "", "")
    assert first != second and len(first) >= 40
    one, other = logins.find(first), logins.find(second)
    assert one is not None and other is not None
    assert one.csrf_matches(one.csrf_token)
    assert not one.csrf_matches(other.csrf_token)
    assert not one.csrf_matches(None) and not one.csrf_matches("")
    assert logins.find(None) is None and logins.find("") is None and logins.find("x") is None


def test_logout_ends_the_session_and_the_store_stays_bounded() -> None:
    clock = Clock()
    logins = LoginSessions(dt.timedelta(minutes=30), clock)
    token = logins.start("alice", "", "")
    assert logins.end(token) is not None and logins.find(token) is None
    assert logins.end(token) is None
    tokens = []
    for n in range(MAX_SESSIONS + 5):
        clock.now += 0.001
        tokens.append(logins.start(f"user{n}", "", ""))
    assert len(logins) == MAX_SESSIONS
    assert logins.find(tokens[0]) is None and logins.find(tokens[-1]) is not None


def test_passwords_are_stored_as_argon2id_hashes_and_checked_against_them() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert password_matches(stored, "correct horse battery")
    assert not password_matches(stored, "correct horse batterY")
    assert not password_matches(None, "correct horse battery")  # unknown user
    assert not password_matches("not a hash", "correct horse battery")
    assert not needs_rehash(stored)
    assert hash_password("correct horse battery") != stored  # salted
    with pytest.raises(WeakPasswordError, match="at least 12 characters"):
        hash_password("short")
