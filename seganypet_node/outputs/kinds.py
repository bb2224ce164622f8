"""The result objects the node writes and sends: their kinds and identities (a light module:
the sender imports it, and must not import the pipeline, and torch with it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class ObjectKind(enum.StrEnum):
    """Which result object a file is (also what the outbound queue records)."""

    SEG = "seg"
    SR = "sr"
    KEY_IMAGE = "key_image"


@dataclass(frozen=True)
class ResultObject:
    """One written object: its kind, file and identity."""

    kind: ObjectKind
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    seconds: float = 0.0  # building and writing it
