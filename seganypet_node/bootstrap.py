"""What every command and the node process set up before they work: logging and privacy."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

import pydicom

from seganypet_node.config import Config
from seganypet_node.logs import log_to_file, setup_logging


def bootstrap(config: Config) -> None:
    """Set up the process for ``config``: logging at its level, pydicom kept quiet."""
    setup_logging(config.logging.level.value, config.logging.libraries.value)
    keep_headers_out_of_logs()


def start_log_file(config: Config, process: str = "") -> None:
    """For the long-running commands: also log to ``[logging] file`` when it is set.

    Parameters
    ----------
    config : Config
        The node's settings.
    process : str, optional
        Set for a ``worker`` process (``"worker"``): it writes ``node-worker-<host>.log``
        beside the node's file, since a rotating file must have one writer.
    """
    path = config.log_file
    if path is None:
        return
    if process:
        path = path.with_name(f"{path.stem}-{process}-{socket.gethostname()}{path.suffix}")
    settings = config.logging
    log_to_file(path, settings.max_mb * 2**20, settings.backups)


def keep_headers_out_of_logs() -> None:
    """Stop pydicom validating values as it reads them.

    Headers are checked by :mod:`seganypet_node.dicom.header`; pydicom's own warnings would
    echo raw values (patient names among them) into the log.
    """
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


class StopSignal:
    """Set by SIGTERM or SIGINT; the main thread waits for it, then stops cleanly.

    The handler only flips a flag: a handler that takes a lock (``threading.Event.set``)
    runs on the main thread between any two bytecodes and can wait forever on a lock that
    thread holds (seen: a node that never began to stop after SIGTERM).
    """

    def __init__(self) -> None:
        self.received = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.received = True

    def wait(self, until: Callable[[], bool] = lambda: False) -> None:
        """Return once a signal came, or ``until()`` is true (checked every 0.1 s)."""
        while not self.received and not until():
            time.sleep(0.1)
