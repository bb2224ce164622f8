"""What a reader's review of a study is made of: findings (organs and lesions) with their
status, the steps taken on them, and the error a step that cannot be taken raises."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from seganypet_node.errors import NodeError
from seganypet_node.imaging.boxes import BoxMask
from seganypet_node.model.correction import ClickCrop
from seganypet_node.model.prediction import Prompt
from seganypet_node.pipeline.remeasure import KeptLesion

LESION = "lesion"


class FindingKind(enum.StrEnum):
    ORGAN = "organ"
    LESION = "lesion"


class FindingStatus(enum.StrEnum):
    PROPOSED = "proposed"  # as the automatic run gave it, not yet looked at
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class CorrectionAction(enum.StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    RELABEL = "relabel"
    POSITIVE_CLICK = "positive_click"
    NEGATIVE_CLICK = "negative_click"
    ADD_LESION = "add_lesion"
    ADD_ORGAN = "add_organ"
    UNDO = "undo"


class DraftError(NodeError, ValueError):
    """A step the draft cannot take; the message says why (no such finding, a taken label)."""


@dataclass(frozen=True, eq=False)
class Finding:
    """One organ or lesion under review.

    Attributes
    ----------
    key : str
        Stable through relabelling: the organ's name, the lesion's label, ``added_N``.
    name : str
        The organ's catalogue name, or ``"lesion"``.
    mask : BoxMask
        On the study's grid.
    added : bool
        Added by the reader (not by the automatic run).
    clicks, crops
        The corrective clicks so far and the crops they were answered on.
    lesion : KeptLesion or None
        For a lesion: how it was delineated and its tracking UID.
    """

    key: str
    name: str
    mask: BoxMask
    status: FindingStatus = FindingStatus.PROPOSED
    added: bool = False
    clicks: tuple[Prompt, ...] = ()
    crops: tuple[ClickCrop, ...] = ()
    lesion: KeptLesion | None = None

    @property
    def kind(self) -> FindingKind:
        return FindingKind.LESION if self.name == LESION else FindingKind.ORGAN

    @property
    def changed(self) -> bool:
        """Whether the reader changed it (accepting alone changes nothing)."""
        return (self.added or bool(self.clicks) or self.status is FindingStatus.REJECTED
                or self.name != automatic_name(self.key))


@dataclass(frozen=True)
class Step:
    """What one step did, for the page and the audit log."""

    action: CorrectionAction
    finding: str
    detail: str
    seconds: float
    changed_voxels: int = 0


def automatic_name(key: str) -> str:
    """What the automatic run (or the reader, adding it) called the finding with ``key``."""
    if key.startswith("added_"):
        added = key.removeprefix("added_")
        return LESION if added.isdigit() else added
    return LESION if key.startswith("lesion_") else key
