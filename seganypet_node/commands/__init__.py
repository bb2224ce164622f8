"""Handlers of ``seganypet-node`` subcommands, grouped by what they act on."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


def print_json(value: Any) -> None:
    """Print a dict or a list of dataclass rows as indented JSON (enums, dates, paths as text)."""
    if isinstance(value, list):
        value = [_plain(item) for item in value]
    print(json.dumps(value, indent=2, default=str))


def _plain(item: Any) -> Any:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item
