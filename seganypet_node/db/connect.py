"""Opening the node's database for a command or the node: connect and migrate, or say in one
line why not (a server that does not answer, a driver that is not installed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import URL, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError

from seganypet_node.db.engine import make_engine
from seganypet_node.db.migrate import upgrade
from seganypet_node.errors import NodeError

SETTING = "[database] url (SEGANYPET_DATABASE_URL)"
T = TypeVar("T")


class DatabaseUnavailableError(NodeError):
    """The configured database cannot be reached or opened."""

    permanent = False  # a server that is down now may answer later


def connect_and_migrate(url: str) -> tuple[Engine, str]:
    """An engine for ``url`` with the schema at the code's head, and that revision.

    Raises
    ------
    DatabaseUnavailableError
        No driver for the URL, or the server refuses or does not answer.
    """
    engine = connect(url)
    return engine, _answered(engine, lambda: upgrade(engine))


def connect(url: str) -> Engine:
    """An engine for ``url``, once the database has answered.

    Raises
    ------
    DatabaseUnavailableError
        No driver for the URL, or the server refuses or does not answer.
    """
    try:
        engine = make_engine(url)
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        raise DatabaseUnavailableError(
            f"no database driver for {_shown(url)} ({exc}): install it, or change {SETTING}"
        ) from None
    _answered(engine, lambda: engine.connect().close())
    return engine


def _answered(engine: Engine, call: Callable[[], T]) -> T:
    try:
        return call()
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise DatabaseUnavailableError(
            f"cannot open the database at {_shown(engine.url)} ({_first_line(exc)}): start "
            f"the server or check {SETTING}, its user and password") from None


def _shown(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
