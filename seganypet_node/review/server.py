"""Running the review service: uvicorn on a socket the node binds itself, in a thread."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.config import Config
from seganypet_node.dicom.scp import ListenError
from seganypet_node.review.web import review_app

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


class ReviewServer:
    """The review service of one node process.

    Parameters
    ----------
    config : Config
        ``[review]`` says where and how it listens.
    database : sessionmaker
        The node's database.
    """

    def __init__(self, config: Config, database: sessionmaker[Session]) -> None:
        review = config.review
        self.host = review.host
        self.port = review.port
        app = review_app(config, database)
        self._server = uvicorn.Server(uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", server_header=False,
            ssl_certfile=str(review.cert_file) if review.tls else None,
            ssl_keyfile=str(review.key_file) if review.tls else None,
            timeout_keep_alive=5, limit_concurrency=64))
        self._scheme = "https" if review.tls else "http"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and start serving in a thread.

        Raises
        ------
        seganypet_node.dicom.scp.ListenError
            The port is taken or needs privileges (as for the DICOM listener).
        """
        listening = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listening.bind((self.host, self.port))
            listening.listen(64)
        except OSError as exc:
            listening.close()
            raise ListenError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}) for the "
                f"review service: another program holds the port or it needs privileges; "
                f"choose another [review] port (or [review] enabled = false)") from None
        self.port = listening.getsockname()[1]
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listening]},
                                        name="review", daemon=True)
        self._thread.start()
        log.info("review service on %s://%s:%d/", self._scheme, self.host, self.port)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop serving (requests in flight get ``timeout_s``)."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)
        self._thread = None
