"""A cap on the data set one C-STORE may bring, applied while it arrives.

pynetdicom keeps every received fragment of a DIMSE message in memory until the message is
complete. :class:`DataSetCap` counts the data-set bytes of the message being received; past
the cap it drops what was kept and the data of every further fragment, so the message
completes with an empty data set and the C-STORE handler answers it with a failure status
(:meth:`refused`). At most the cap (plus one PDU) is held per association.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pynetdicom.association import Association


class DataSetCap:
    """Wraps one association's DIMSE ``receive_primitive`` (see :meth:`install`)."""

    def __init__(self, assoc: Association, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._dimse = assoc.dimse
        self._receive = assoc.dimse.receive_primitive
        self._bytes = 0
        self._refused: set[int] = set()  # MessageIDs whose data set was dropped

    @classmethod
    def install(cls, assoc: Association, max_bytes: int) -> DataSetCap:
        cap = cls(assoc, max_bytes)
        assoc.dimse.receive_primitive = cap  # type: ignore[method-assign]
        assoc.dataset_cap = cap  # type: ignore[attr-defined]
        return cap

    def refused(self, message_id: int) -> bool:
        """Whether the data set of request ``message_id`` was dropped (once per request)."""
        if message_id in self._refused:
            self._refused.discard(message_id)
            return True
        return False

    def __call__(self, primitive: Any) -> None:
        message = self._dimse.message
        if message is None:
            self._bytes = 0  # a new message starts
        values = primitive.presentation_data_value_list
        # The first byte of a PDV is its control header: bit 0 set for a command fragment.
        self._bytes += sum(len(v) - 1 for _, v in values if v and not v[0] & 1)
        command = getattr(message, "command_set", None)
        if self._bytes > self.max_bytes and message is not None and command is not None:
            self._refused.add(int(command.MessageID))
            message.data_set = BytesIO()
            primitive.presentation_data_value_list = [
                [cid, v if not v or v[0] & 1 else bytes(v[:1])] for cid, v in values]
        self._receive(primitive)


def refused_for_size(assoc: Association, message_id: int) -> int | None:
    """The cap (bytes) when request ``message_id``'s data set was dropped for its size."""
    cap = getattr(assoc, "dataset_cap", None)
    if isinstance(cap, DataSetCap) and cap.refused(message_id):
        return cap.max_bytes
    return None
