"""Parsers for single configuration values.

Each parser takes the raw value (a TOML value, or a string from the environment) and returns the
typed value or raises :class:`ValueError` whose message is the expected form of the value.
"""

from __future__ import annotations

import enum
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
_FORM_ATTRIBUTE = "typed_form"  # set on parsers that take a TOML number or boolean


def _typed(form: str, parser: P) -> P:
    setattr(parser, _FORM_ATTRIBUTE, form)
    return parser


def typed_form(parser: Parser) -> str | None:
    """The expected form when ``parser`` takes a TOML number or boolean, not a string."""
    form = getattr(parser, _FORM_ATTRIBUTE, None)
    return form if isinstance(form, str) else None

# Default character repertoire without backslash.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9.\-:]{1,253}$")


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
    if not isinstance(raw, str) or not HOST_NAME.match(raw):
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
