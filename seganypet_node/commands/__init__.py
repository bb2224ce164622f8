"""Handlers of ``seganypet-node`` subcommands, grouped by what they act on."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any


def print_json(value: Any) -> None:
    """Print a dict or a list of dataclass rows as indented JSON (enums, dates, paths as text)."""
    if isinstance(value, list):
        value = [_plain(item) for item in value]
    print(json.dumps(value, indent=2, default=_text))


def _text(value: Any) -> Any:
    """An enum as its value ("done", as the database and the API write it), else its text."""
    return value.value if isinstance(value, enum.Enum) else str(value)


def _plain(item: Any) -> Any:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item
