"""Assembly of a running node: database, spool, listener and background threads."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.bootstrap import keep_headers_out_of_logs
from seganypet_node.config import Config
from seganypet_node.db.connect import connect_and_migrate
from seganypet_node.db.engine import make_session_factory
from seganypet_node.db.group_commit import GroupCommitter
from seganypet_node.dicom.completion import QuietPeriodSweeper
from seganypet_node.dicom.receive import InstanceReceiver
from seganypet_node.dicom.scp import ListenError, StorageNode
from seganypet_node.dicom.scu import ResultSender
from seganypet_node.dicom.spool import Spool
from seganypet_node.paths import writable_directory
from seganypet_node.polling import STOP_GRACE_S, Stoppable

if TYPE_CHECKING:
    from seganypet_node.review.server import ReviewServer
    from seganypet_node.worker_process import WorkerProcess

log = logging.getLogger(__name__)

LISTENER_GRACE_S = 5.0  # for instances in flight when the node is told to stop


@dataclass(frozen=True)
class Database:
    """An engine whose schema is current, with its session factory."""

    engine: Engine
    sessions: sessionmaker[Session]


def open_database(config: Config) -> Database:
    """Connect to the configured database and apply pending migrations.

    Raises
    ------
    seganypet_node.paths.UnusableDirectoryError
        The data directory (which holds the SQLite database) cannot be made or written.
    seganypet_node.db.connect.DatabaseUnavailableError
        The configured database server does not answer, or its driver is missing.
    """
    if not config.database.url:  # SQLite inside the data directory
        writable_directory(config.node.data_dir, "[node] data_dir (--data-dir)")
    engine, revision = connect_and_migrate(config.database_url)
    # DEBUG: read-only commands (jobs, send, check) open the database too.
    log.debug("database %s at schema revision %s", engine.url.get_backend_name(), revision)
    return Database(engine, make_session_factory(engine))


class NodeApp:
    """The node process: listener, quiet-period sweeper, segmentation workers, result sender,
    and the review service when ``[review] enabled``.

    Parameters
    ----------
    config : Config
        Validated configuration.
    """

    def __init__(self, config: Config) -> None:
        keep_headers_out_of_logs()  # also when the node is started without the CLI
        self.config = config
        self.database = open_database(config)
        self.spool = Spool(config.spool_dir, config.node.min_free_mb * 2**20)
        self.committer = GroupCommitter(self.database.engine)
        self.sender = ResultSender(config, self.database.sessions)
        self.workers = _workers(config, self.database.sessions, self.sender.wake)
        self.listener = StorageNode(
            config, InstanceReceiver(self.spool, self.committer, self._wake_workers))
        completion = config.completion
        self.sweeper = QuietPeriodSweeper(
            self.database.sessions,
            dt.timedelta(seconds=completion.quiet_period_s),
            completion.sweep_interval_s,
            self._wake_workers,
        )
        self.review = _review_server(config, self.database)

    def start(self) -> None:
        """Start every part; when the listener cannot bind, stop what started and raise.

        Raises
        ------
        seganypet_node.dicom.scp.ListenError
            The DICOM or the review service's port is taken or needs privileges.
        """
        self.committer.start()
        try:
            self.listener.start()
        except ListenError:
            self.committer.stop()
            raise
        if self.review is not None:
            try:
                self.review.start()
            except ListenError:
                self.listener.stop(0.0)
                self.committer.stop()
                raise
        self.sweeper.start()
        for worker in self.workers:
            worker.start()
        self.sender.start()
        node = self.config.node
        log.info("seganypet-node ready: AE %s listening on %s:%d%s", node.ae_title, node.host,
                 self.listener.port, " (TLS)" if self.config.tls.enabled else "")

    def _wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    def stop(self) -> None:
        """Stop within seconds: running jobs go back to the queue at once (no attempt
        spent), new associations are refused, instances in flight get
        ``LISTENER_GRACE_S`` to finish, and background threads ``STOP_GRACE_S``."""
        log.info("stopping: refusing new associations, handing running jobs back")
        pollers: tuple[Stoppable, ...] = (*self.workers, self.sender)
        for poller in pollers:
            poller.request_stop()
        if self.review is not None:
            self.review.stop()
        self.listener.stop(LISTENER_GRACE_S)
        self.committer.stop()
        self.sweeper.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for poller in pollers:
            poller.stop(max(0.0, deadline - time.monotonic()))
        self.database.engine.dispose()
        log.info("stopped")


def _review_server(config: Config, database: Database) -> ReviewServer | None:
    if not config.review.enabled:
        return None
    from seganypet_node.review.server import ReviewServer

    return ReviewServer(config, database.sessions)


def _workers(config: Config, sessions: sessionmaker[Session],
             on_results_queued: Callable[[], None]) -> list[WorkerProcess]:
    """``[worker] count`` workers, each a child process: this process, which receives, never
    loads torch and the model, and a job's Python stages do not hold its interpreter lock."""
    from seganypet_node.worker_process import WorkerProcess

    return [WorkerProcess(config, sessions, f"w{k}", on_results_queued)
            for k in range(1, config.worker.count + 1)]
