"""Opening the node's database for a command or the node: connect and migrate, or say in one
line why not (a server that does not answer, a driver that is not installed)."""

from __future__ import annotations

from sqlalchemy import URL, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError

from seganypet_node.db.engine import make_engine
from seganypet_node.db.migrate import upgrade
from seganypet_node.errors import NodeError

SETTING = "[database] url (SEGANYPET_DATABASE_URL)"


class DatabaseUnavailableError(NodeError):
    """The configured database cannot be reached or opened."""

    permanent = False  # a server that is down now may answer later


def connect_and_migrate(url: str) -> tuple[Engine, str]:
    """An engine for ``url`` with the schema at the code's head, and that revision.

    Raises
    ------
    DatabaseUnavailableError
        No driver for the URL, the server refuses or does not answer, or the schema cannot
        be migrated there.
    """
    engine = connect(url)
    try:
        return engine, upgrade(engine)
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise DatabaseUnavailableError(
            f"the database at {_shown(engine.url)} answered but its schema could not be "
            f"brought to the code's revision ({_first_line(exc)}): the database user needs "
            f"to create tables there (`seganypet-node db upgrade` as its owner)") from None


def connect(url: str) -> Engine:
    """An engine for ``url``, once the database has answered.

    Raises
    ------
    DatabaseUnavailableError
        No driver for the URL, or the server refuses or does not answer.
    """
    try:
        engine = make_engine(url)
    except (ImportError, NoSuchModuleError) as exc:  # a driver, or the library it loads
        raise DatabaseUnavailableError(
            f"no database driver for {_shown(url)} ({exc}): install it, or change {SETTING}"
        ) from None
    try:
        engine.connect().close()
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise DatabaseUnavailableError(
            f"cannot open the database at {_shown(engine.url)} ({_first_line(exc)}): start "
            f"the server or check {SETTING}, its user and password") from None
    return engine


def _shown(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
