"""C-STORE status codes the node answers with (PS3.4 Annex B.2.3 and PS3.7 Annex C)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StoreStatus(enum.IntEnum):
    """Why an instance was or was not stored."""

    SUCCESS = 0x0000
    # Out of resources: disk full, database unavailable. The peer may retry later.
    OUT_OF_RESOURCES = 0xA700
    # Data set does not match SOP class: mandatory attribute missing or inconsistent.
    DATASET_MISMATCH = 0xA900
    # Cannot understand: the bytes do not decode as a DICOM data set, or are truncated.
    CANNOT_DECODE = 0xC210
    # Cannot understand: an unexpected error inside the node (logged with its traceback).
    PROCESSING_FAILURE = 0xC211
    # Cannot understand: a UID violates the DICOM UID grammar (nothing is written).
    INVALID_UID = 0xC220
    # Node shutting down: the instance was not stored; the peer should send it again.
    SHUTTING_DOWN = 0xA701
    # Refused: SOP class not supported: the request's SOP class is not the presentation
    # context's, or is not one the node offered for storage (PS3.7 C.4.2.1.4).
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    # Duplicate SOP instance (PS3.7 C.5.8): the UID is stored already with other content;
    # the acknowledged copy is kept, the new one is not (a failure, so the sender knows).
    DUPLICATE_CONFLICT = 0x0111


@dataclass(frozen=True)
class StoreOutcome:
    """The status a C-STORE gets, and the comment sent back in ErrorComment (0000,0902)."""

    status: StoreStatus
    comment: str = ""


class InstanceRejected(Exception):
    """An instance cannot be stored; carries the status and a comment for the peer."""

    def __init__(self, status: StoreStatus, comment: str) -> None:
        super().__init__(comment)
        self.outcome = StoreOutcome(status, comment[:64])
