"""What every command and the node process set up before they work: logging and privacy."""

from __future__ import annotations

import socket

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
