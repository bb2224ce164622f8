"""The pipe between a worker process and its node: log records and notes, framed."""

from __future__ import annotations

import io
import logging

from seganypet_node.worker_process import RESULTS_QUEUED, ParentChannel, exit_reason


def test_records_and_notes_cross_in_order_with_their_message_and_traceback() -> None:
    pipe = io.BytesIO()
    channel = ParentChannel(pipe)  # type: ignore[arg-type]
    logger = logging.getLogger("seganypet_node.test_channel")
    logger.addHandler(channel)
    logger.propagate = False
    try:
        logger.warning("job %d: %s", 7, "lease lost")
        channel.send(RESULTS_QUEUED)
        try:
            raise ValueError("bad pixel data")
        except ValueError:
            logger.exception("job %d: unexpected error", 8)
    finally:
        logger.removeHandler(channel)
        logger.propagate = True
    pipe.seek(0)
    first, note, failed = ParentChannel.messages(pipe)
    assert isinstance(first, logging.LogRecord) and first.getMessage() == "job 7: lease lost"
    assert first.levelno == logging.WARNING and first.name == "seganypet_node.test_channel"
    assert note == RESULTS_QUEUED
    assert isinstance(failed, logging.LogRecord)
    assert failed.getMessage() == "job 8: unexpected error"
    assert "ValueError: bad pixel data" in logging.Formatter().format(failed)


def test_a_worker_killed_by_the_kernel_is_explained() -> None:
    assert "out-of-memory killer" in exit_reason(-9)
    assert exit_reason(-15) == "was killed by SIGTERM"
    assert exit_reason(1) == "exited with status 1"
