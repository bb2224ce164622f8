"""Calling AE titles bound to the addresses they may call from."""

import pytest

from seganypet_node.dicom.access import CallerAccess
from seganypet_node.settings_callers import Caller, callers


def test_callers_match_their_host_networks_and_names() -> None:
    access = CallerAccess.from_callers([
        Caller("PACS", "10.0.0.5", 104),
        Caller("CONSOLE", "10.0.1.9", 11112, ("10.0.1.0/24", "localhost")),
    ])
    assert access.titles_for("10.0.0.5") == ["PACS"]
    assert access.titles_for("10.0.0.6") == []
    assert access.titles_for("10.0.1.77") == ["CONSOLE"]
    assert access.titles_for("127.0.0.1") == ["CONSOLE"]  # localhost resolved at start
    assert access.titles_for("::ffff:10.0.0.5") == ["PACS"]  # a dual-stack listener's form
    assert access.titles_for("not an address") == []


def test_networks_are_validated_when_the_config_is_read() -> None:
    parsed = callers([{"ae_title": "A", "host": "h", "port": 1, "networks": ["10.0.0.0/8"]}])
    assert parsed[0].networks == ("10.0.0.0/8",)
    with pytest.raises(ValueError, match="not an address, network or host name"):
        callers([{"ae_title": "A", "host": "h", "port": 1, "networks": ["10.0.0.0/33 x"]}])
    with pytest.raises(ValueError, match="networks"):
        callers([{"ae_title": "A", "host": "h", "port": 1, "networks": "10.0.0.0/8"}])
