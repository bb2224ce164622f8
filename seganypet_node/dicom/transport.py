"""The listener's transport: nothing a peer opens can be held without finishing it.

pynetdicom reads a PDU with a blocking ``recv`` that has no deadline, buffers whatever length
the PDU header declares, runs the TLS handshake in the accept loop, and counts every open
connection, authenticated or not, toward the association limit. Here:

- every read of a PDU part must complete within the ACSE timeout (before the association is
  established) or the network timeout (after), or the connection is closed;
- a declared PDU length above what we accept (the A-ASSOCIATE-RQ cap before establishment,
  our maximum PDU size after) closes the connection before anything is read;
- the TLS handshake runs on the connection's own thread, under the ACSE timeout;
- only established associations count toward ``max_associations``; connections that have
  not yet negotiated have their own small limits, in all and per peer address.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from seganypet_node.dicom.access import CallerAccess
from seganypet_node.dicom.dataset_cap import DataSetCap
from seganypet_node.dicom.pacing import Pace

log = logging.getLogger(__name__)

ASSOCIATE_RQ_MAX_BYTES = 256 * 1024  # 128 presentation contexts and a user identity fit
UNLIMITED_PDU_BYTES = 64 * 1024 * 1024  # our cap when max_pdu is 0 ("no limit" in DICOM)
PDU_SLACK_BYTES = 64  # PDV item headers around a maximum-size fragment


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may take before and after its association is established."""

    acse_timeout_s: float
    network_timeout_s: float
    max_pdu_bytes: int  # 0: no limit announced
    max_pending: int = 64
    max_pending_per_address: int = 16
    max_dataset_bytes: int = 512 * 1024 * 1024

    @property
    def pdu_bytes(self) -> int:
        """Largest PDU accepted on an established association."""
        if self.max_pdu_bytes == 0:
            return UNLIMITED_PDU_BYTES
        return self.max_pdu_bytes + PDU_SLACK_BYTES


class GuardedSocket(AssociationSocket):
    """An association's socket whose every read has a deadline and a length cap.

    Made from the socket pynetdicom built (see :meth:`guard`): constructing another one would
    queue a second transport-connection event on the association.
    """

    _limits: ConnectionLimits
    _pace: Pace

    @classmethod
    def guard(cls, sock: AssociationSocket, limits: ConnectionLimits) -> GuardedSocket:
        """``sock`` itself, reading with deadlines and caps from now on, and pacing its
        association's polling (:mod:`pacing`)."""
        sock.__class__ = cls
        guarded = cast(GuardedSocket, sock)
        guarded._limits = limits
        guarded._pace = Pace()
        sock.assoc.pace = guarded._pace  # type: ignore[attr-defined]
        return guarded

    @property
    def ready(self) -> bool:
        """Whether data waits to be read; the DUL reactor asks once per loop, so its poll
        interval is set here."""
        waiting = bool(AssociationSocket.ready.fget(self))  # type: ignore[attr-defined]
        if waiting:
            self._pace.touch()
        self.assoc.dul._run_loop_delay = self._pace.dul_delay
        return waiting

    def send(self, bytestream: bytes) -> None:
        self._pace.touch()
        super().send(bytestream)

    def recv(self, nr_bytes: int) -> bytearray:
        """Read ``nr_bytes``; fewer when the peer closes, the deadline passes or the length
        is above the cap (nothing is read then). pynetdicom takes a short read as the
        connection closing, and closes it."""
        established = bool(self.assoc.is_established)
        cap = self._limits.pdu_bytes if established else ASSOCIATE_RQ_MAX_BYTES
        if nr_bytes > cap:
            log.warning("closing connection from %s: PDU of %d bytes declared, %d accepted",
                        self._peer(), nr_bytes, cap)
            return bytearray()
        timeout = self._limits.network_timeout_s if established else self._limits.acse_timeout_s
        data, late = self._read_by(nr_bytes, time.monotonic() + timeout)
        if late:
            log.warning("closing connection from %s: PDU incomplete at the deadline "
                        "(%d of %d bytes in %.0f s)", self._peer(), len(data), nr_bytes, timeout)
        return data

    def _peer(self) -> str:
        return escaped(str(self.assoc.requestor.address))

    def _read_by(self, nr_bytes: int, deadline: float) -> tuple[bytearray, bool]:
        """What arrived by ``deadline`` (up to ``nr_bytes``), and whether the deadline cut
        the read short."""
        sock = cast(socket.socket, self.socket)
        data = bytearray()
        try:
            while len(data) < nr_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return data, True
                sock.settimeout(left)
                try:
                    chunk = sock.recv(min(65536, nr_bytes - len(data)))
                except TimeoutError:
                    continue  # the loop sees the deadline passed
                if not chunk:
                    break
                data.extend(chunk)
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(None)
        return data, False


class GuardedRequestHandler(RequestHandler):
    """Builds each association on a :class:`GuardedSocket`, after the TLS handshake."""

    server: GuardedServer

    def handle(self) -> None:
        if self.server.handshake_context is not None:
            address = str(self.client_address[0])
            self.server.handshakes.enter(address)
            try:
                wrapped = self._handshake(self.server.handshake_context)
            finally:
                self.server.handshakes.leave(address)
            if wrapped is None:
                return
            self.request = wrapped
        super().handle()

    def _handshake(self, context: ssl.SSLContext) -> ssl.SSLSocket | None:
        sock = cast(socket.socket, self.request)
        sock.settimeout(self.server.limits.acse_timeout_s)
        try:
            wrapped = context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS handshake with %s failed: %s", escaped(str(self.client_address[0])),
                        escaped(str(exc))[:200])
            sock.close()
            return None
        wrapped.settimeout(None)
        return wrapped

    def _create_association(self) -> Association:
        assoc = super()._create_association()
        GuardedSocket.guard(cast(AssociationSocket, assoc.dul.socket), self.server.limits)
        DataSetCap.install(assoc, self.server.limits.max_dataset_bytes)
        return assoc


class AddressCounter:
    """Connections in one phase, per peer address (thread-safe)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, address: str) -> None:
        with self._lock:
            self._counts[address] = self._counts.get(address, 0) + 1

    def leave(self, address: str) -> None:
        with self._lock:
            left = self._counts.get(address, 0) - 1
            if left > 0:
                self._counts[address] = left
            else:
                self._counts.pop(address, None)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class GuardedServer(ThreadedAssociationServer):
    """The association server with pending-connection limits and the TLS handshake moved to
    the connection's thread.

    A connection is pending from accept until its association is established: during the
    TLS handshake, and while its association thread has not negotiated yet.
    """

    # Shutdown must not wait for a peer's handshake or read: threads are closed, not joined.
    daemon_threads = True
    block_on_close = False

    def __init__(self, ae: AE, address: tuple[str, int], ae_title: str, contexts: Any,
                 ssl_context: ssl.SSLContext | None = None, evt_handlers: Any = None,
                 *, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.handshake_context = ssl_context
        self.handshakes = AddressCounter()
        super().__init__(ae, address, ae_title, contexts, None, evt_handlers,
                         GuardedRequestHandler)

    def pending(self) -> dict[str, int]:
        """Connections not yet associated, per peer address."""
        counts = self.handshakes.snapshot()
        for assoc in self.active_associations:
            if not assoc.is_established:
                address = str(assoc.requestor.address)
                counts[address] = counts.get(address, 0) + 1
        return counts

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Refuse a connection beyond the pending limits (closed at once, nothing read)."""
        address = str(client_address[0])
        counts = self.pending()
        total, here = sum(counts.values()), counts.get(address, 0)
        if total >= self.limits.max_pending or here >= self.limits.max_pending_per_address:
            log.warning("connection from %s refused: %d connections not yet associated "
                        "(%d from this address)", escaped(address), total, here)
            return False
        return True

    def close_connections(self) -> None:
        """Shut every association's socket, so that no blocked read holds a thread."""
        for assoc in self.active_associations:
            sock = getattr(assoc.dul.socket, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# Stands for "no AE title": backslash is not allowed in AE titles, so none matches it.
NO_TITLE = "\\"


class GuardedAE(AE):
    """An AE whose association limit counts established associations only, and whose calling
    AE titles are checked against the address each association comes from."""

    access: CallerAccess | None = None

    @property
    def active_associations(self) -> list[Association]:
        current = threading.current_thread()
        return [a for a in super().active_associations
                if a.is_established or a is current]

    @property
    def require_calling_aet(self) -> list[str]:
        """The calling AE titles the current association may use (ACSE asks on its thread)."""
        titles = AE.require_calling_aet.fget(self)  # type: ignore[attr-defined]
        current = threading.current_thread()
        if self.access is None or not titles or not isinstance(current, Association):
            return titles
        allowed = set(self.access.titles_for(current.requestor.address))
        return [t for t in titles if t in allowed] or [NO_TITLE]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        AE.require_calling_aet.fset(self, ae_titles)  # type: ignore[attr-defined]


def escaped(text: str) -> str:
    """A peer's string safe for one log line: control characters as ``\\xNN`` escapes."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
