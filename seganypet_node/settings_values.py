"""Parsers for single configuration values.

Each parser takes the raw value (a TOML value, or a string from the environment) and returns the
typed value or raises :class:`ValueError` whose message is the expected form of the value.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

Parser = Callable[[Any], Any]
E = TypeVar("E", bound=enum.Enum)
P = TypeVar("P", bound=Parser)

# Parsers of numbers and booleans, with the form they expect: in a TOML file such a value
# must be written as a TOML number or boolean (``port = "11113"`` is a mistake to point out);
# only the environment, where every value is text, may give it as a string.
_TYPED_FORMS: dict[Parser, str] = {}


def _typed(form: str, parser: P) -> P:
    _TYPED_FORMS[parser] = form
    return parser


def typed_form(parser: Parser) -> str | None:
    """The expected form when ``parser`` takes a TOML number or boolean, not a string."""
    return _TYPED_FORMS.get(parser)

# Default character repertoire without backslash.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-:]{1,253}$")


@dataclass(frozen=True)
class RemoteAE:
    """A remote Storage SCP that results are sent to.

    Parameters
    ----------
    ae_title : str
        Its AE title (the Called AE Title of our association).
    host : str
        Host name or IP address.
    port : int
        Port it listens on.
    """

    ae_title: str
    host: str
    port: int


@dataclass(frozen=True)
class Caller:
    """A remote application entity allowed to associate, and where its results go back.

    Parameters
    ----------
    ae_title : str
        Calling AE title of the peer.
    host : str
        Host name or IP address of the peer's Storage SCP.
    port : int
        Port of the peer's Storage SCP.
    networks : tuple of str
        Where the peer may call from: IP addresses, networks (CIDR) or host names. Empty:
        from ``host`` only.
    return_ae_title : str | None
        Called AE title of the Storage SCP at ``host:port`` that gets the results back, where
        it is not the caller's own (a console that pushes, a PACS node that stores); None:
        ``ae_title``.
    """

    ae_title: str
    host: str
    port: int
    networks: tuple[str, ...] = ()
    return_ae_title: str | None = None

    @property
    def storage_scp(self) -> RemoteAE:
        """Where this caller's results go back."""
        return RemoteAE(self.return_ae_title or self.ae_title, self.host, self.port)


def integer(low: int, high: int) -> Parser:
    """Parser for an integer in ``[low, high]``."""
    form = f"an integer from {low} to {high}"

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(form)
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
            raw = int(raw)
        if not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(form)
        return raw

    return _typed(form, parse)


def integer_of(*allowed: int) -> Parser:
    """Parser for one of a fixed set of integers."""
    form = "one of " + ", ".join(str(a) for a in allowed)
    whole = integer(min(allowed), max(allowed))

    def parse(raw: Any) -> int:
        try:
            value = whole(raw)
        except ValueError:
            raise ValueError(form) from None
        if value not in allowed:
            raise ValueError(form)
        return int(value)

    return _typed(form, parse)


def number(low: float, high: float) -> Parser:
    """Parser for a real number in ``[low, high]``."""
    form = f"a number from {low:g} to {high:g}"

    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError(form)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(form) from None
        if not low <= value <= high:
            raise ValueError(form)
        return value

    return _typed(form, parse)


def boolean(raw: Any) -> bool:
    """Parse ``true``/``false`` (also 1/0, yes/no, on/off from the environment)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in {"true", "1", "yes", "on"}:
            return True
        if word in {"false", "0", "no", "off"}:
            return False
    raise ValueError("true or false")


_typed("true or false", boolean)


def ae_title(raw: Any) -> str:
    """Parse a DICOM AE title (1-16 printable characters, no backslash, not all spaces)."""
    if not isinstance(raw, str) or not _AE_TITLE.match(raw) or not raw.strip():
        raise ValueError("an AE title of 1-16 printable ASCII characters without backslash")
    return raw.strip()


def label(raw: Any) -> str:
    """Printable text of at most 40 characters (it is appended to DICOM series descriptions)."""
    if not isinstance(raw, str) or len(raw) > 40 or not raw.isprintable() or "\\" in raw:
        raise ValueError("expected printable text of at most 40 characters, without '\\'")
    return raw.strip()


def host(raw: Any) -> str:
    """Parse a host name or IP address."""
    if not isinstance(raw, str) or not _HOST.match(raw):
        raise ValueError("a host name or IP address")
    return raw



def organ_names(raw: Any) -> tuple[str, ...]:
    """Catalogue organ names: a TOML list, or comma-separated text from the environment."""
    from seganypet_node.organs import BY_NAME

    items = raw.split(",") if isinstance(raw, str) else raw
    expected = f"a non-empty list of organ names from: {', '.join(BY_NAME)}"
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(expected)
    names = tuple(str(item).strip() for item in items)
    if any(name not in BY_NAME for name in names) or len(set(names)) != len(names):
        raise ValueError(expected + " (each once)")
    return names


def optional_path(raw: Any) -> Path | None:
    """Parse a file path; the empty string means "not set"."""
    if not isinstance(raw, str):
        raise ValueError("a file path string (empty for none)")
    return Path(raw).expanduser() if raw else None


def directory(raw: Any) -> Path:
    """Parse a directory path (made absolute against the working directory)."""
    if not isinstance(raw, str) or not raw:
        raise ValueError("a non-empty directory path")
    return Path(raw).expanduser().absolute()


def member(kind: type[E]) -> Callable[[Any], E]:
    """Parser for one member of an enum, by its value (case-insensitive)."""
    members = {str(m.value).upper(): m for m in kind}
    form = "one of " + ", ".join(str(m.value).upper() for m in kind)

    def parse(raw: Any) -> E:
        if isinstance(raw, kind):
            return raw
        if not isinstance(raw, str) or raw.upper() not in members:
            raise ValueError(form)
        return members[raw.upper()]

    return parse


class Architecture(enum.Enum):
    """The network a checkpoint without a declared architecture is read as."""

    AUTO = "auto"  # the release's vit_b_ori
    VIT_B_ORI = "vit_b_ori"
    SEGANYPET_COMPACT = "seganypet_compact"


class Autocast(enum.Enum):
    """Mixed precision on CUDA."""

    NONE = "none"
    FP16 = "fp16"
    BF16 = "bf16"


class LogLevel(enum.Enum):
    """The node's log level."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def device(raw: Any) -> str:
    """Parse a torch device: auto, cpu, cuda or cuda:N."""
    if not isinstance(raw, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", raw.strip().lower()):
        raise ValueError("auto, cpu, cuda or cuda:N")
    return raw.strip().lower()


def database_url(raw: Any) -> str:
    """Parse an SQLAlchemy URL for SQLite or PostgreSQL ("" selects the embedded SQLite)."""
    form = "empty, or an SQLAlchemy URL starting with sqlite:// or postgresql"
    if not isinstance(raw, str):
        raise ValueError(form)
    if raw and not (raw.startswith("sqlite://") or raw.startswith("postgresql")):
        raise ValueError(form)
    return raw


_CALLER_FORM = (
    'a list of {ae_title = "AE", host = "host", port = N} tables, each optionally with '
    'networks = ["10.0.0.0/24", "host"] and return_ae_title = "AE" (environment: '
    '"AE@host:port,AE2@host:port")'
)
_CALLER_KEYS = {"ae_title", "host", "port", "networks", "return_ae_title"}


def callers(raw: Any) -> tuple[Caller, ...]:
    """Parse the allow-list of calling AEs from TOML tables or ``AE@host:port,...``."""
    if isinstance(raw, str):
        raw = [_caller_from_text(item) for item in raw.split(",") if item.strip()]
    if not isinstance(raw, list):
        raise ValueError(_CALLER_FORM)
    parsed = []
    for entry in raw:
        if not isinstance(entry, dict) or not (
                {"ae_title", "host", "port"} <= set(entry) <= _CALLER_KEYS):
            unknown = sorted(set(entry) - _CALLER_KEYS) if isinstance(entry, dict) else []
            raise ValueError(_CALLER_FORM + (f"; unknown key {unknown[0]!r}" if unknown else ""))
        back = entry.get("return_ae_title")
        parsed.append(
            Caller(ae_title(entry["ae_title"]), host(entry["host"]),
                   integer(1, 65535)(entry["port"]), _networks(entry.get("networks", [])),
                   None if back is None else ae_title(back))
        )
    titles = [c.ae_title for c in parsed]
    if len(set(titles)) != len(titles):
        raise ValueError(_CALLER_FORM + " with each AE title once")
    return tuple(parsed)


def destinations(raw: Any) -> tuple[RemoteAE, ...]:
    """Parse fixed result destinations (the callers' form, without ``networks``)."""
    parsed = callers(raw)
    if any(c.networks or c.return_ae_title for c in parsed):
        raise ValueError("a destination is called, it does not call: no networks or "
                         "return_ae_title here (its ae_title is the one called)")
    return tuple(c.storage_scp for c in parsed)


def _networks(raw: Any) -> tuple[str, ...]:
    """Addresses, CIDR networks or host names a caller may connect from."""
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(_CALLER_FORM)
    for item in raw:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            if not _HOST.match(item):
                raise ValueError(f"{item!r} is not an address, network or host name; "
                                 + _CALLER_FORM) from None
    return tuple(raw)


def _caller_from_text(item: str) -> dict[str, Any]:
    match = re.fullmatch(r"\s*([^@]+)@([^:]+):(\d+)\s*", item)
    if not match:
        raise ValueError(_CALLER_FORM)
    return {"ae_title": match[1], "host": match[2], "port": match[3]}
