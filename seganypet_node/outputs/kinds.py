"""The kinds of result object the node writes and sends."""

from __future__ import annotations

import enum


class ObjectKind(enum.StrEnum):
    """Which result object a file is (also what the outbound queue records)."""

    SEG = "seg"
    SR = "sr"
    KEY_IMAGE = "key_image"
