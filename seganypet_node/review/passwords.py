"""Password hashing for review users: argon2id (RFC 9106) with argon2-cffi's defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from seganypet_node.errors import UsageError

MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()
# Checked when the user is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("no such user: the time of a real check")


class WeakPasswordError(UsageError):
    """The password is too short to be set."""


def hash_password(password: str) -> str:
    """The argon2id hash (with its salt and parameters) of a new password.

    Raises
    ------
    WeakPasswordError
        Shorter than :data:`MIN_PASSWORD_LENGTH` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; None (no such user) is checked against a
    dummy hash and never matches."""
    try:
        matched = _HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matched) and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)
