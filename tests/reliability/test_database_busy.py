"""SQLite held locked by another process while instances arrive: the node waits for the lock
(busy timeout) instead of failing, and stores everything once it is free."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.support import start_storescu, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]


def test_locked_database_delays_but_loses_nothing(start_node, phantom_study) -> None:
    node = start_node()
    blocker = sqlite3.connect(node.data_dir / "node.db", isolation_level=None, timeout=30)
    blocker.execute("BEGIN EXCLUSIVE")  # what a backup tool or a careless admin might do
    started = time.monotonic()
    sender = start_storescu(node.port, phantom_study.dicom_dir)
    try:
        time.sleep(3)
        assert sender.poll() is None  # waiting on the lock, not failing
        blocker.execute("ROLLBACK")
        blocker.close()
        _, errors = sender.communicate(timeout=120)
    finally:
        stop_process(sender)
    assert sender.returncode == 0, errors
    assert time.monotonic() - started >= 3
    assert node.counts() == {"instances": 300, "series": 1, "jobs": 1}
