"""The listener's limits: caps on declared lengths and strings safe for a log line."""

from __future__ import annotations

from seganypet_node.dicom.transport import (
    UNLIMITED_PDU_BYTES,
    ConnectionLimits,
    escaped,
)


def test_peer_strings_are_logged_with_control_characters_escaped() -> None:
    assert escaped("PACS\r\nINFO fake line\x1b[31m") == "PACS\\x0d\\x0aINFO fake line\\x1b[31m"
    assert escaped("STORESCU") == "STORESCU"


def test_pdu_cap_follows_max_pdu_and_is_bounded_when_unlimited() -> None:
    assert ConnectionLimits(30, 60, 262144).pdu_bytes == 262144 + 64
    assert ConnectionLimits(30, 60, 0).pdu_bytes == UNLIMITED_PDU_BYTES
