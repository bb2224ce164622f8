"""Verification and Storage SCP: the node's DICOM listener.

One error boundary per service: the C-STORE handler never raises into the association, it
answers the status that says what went wrong (see :mod:`seganypet_node.dicom.status`).
"""

from __future__ import annotations

import logging
import socketserver
import ssl
import threading
from typing import Any, cast

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from seganypet_node.config import Config
from seganypet_node.dicom import pacing
from seganypet_node.dicom.access import CallerAccess
from seganypet_node.dicom.dataset_cap import refused_for_size
from seganypet_node.dicom.receive import InstanceReceiver, ReceivedInstance
from seganypet_node.dicom.sop import STORAGE_SOP_CLASSES, accepted_transfer_syntaxes
from seganypet_node.dicom.status import InstanceRejected, StoreOutcome, StoreStatus
from seganypet_node.dicom.transport import ConnectionLimits, GuardedAE, GuardedServer, escaped
from seganypet_node.errors import NodeError

log = logging.getLogger(__name__)

# pynetdicom's DUL thread sleeps this long whenever it finds nothing to do (default 1 ms), and
# a C-STORE waits on it twice (request in, response out): at 1 ms that sleep was a third of
# the time per instance. The price is paid by open idle associations: 11 % of a core each at
# 0.2 ms, 5.6 % at 1 ms (benchmarks/idle_association.py); network_timeout closes them.



class ListenError(NodeError):
    """The listener cannot bind its address and port."""

class InFlight:
    """Counts C-STORE requests being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._draining = False
        self._idle = threading.Condition()

    def enter(self) -> bool:
        """Register a request; False once draining has begun (the request must be refused)."""
        with self._idle:
            if self._draining:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Refuse new requests and wait for the running ones; True when all finished."""
        with self._idle:
            self._draining = True
            return self._idle.wait_for(lambda: self._count == 0, timeout=timeout_s)


class StorageNode:
    """The node's listening application entity.

    Parameters
    ----------
    config : Config
        Validated node configuration (AE title, address, limits, allow-list, TLS).
    receiver : InstanceReceiver
        Stores what the peers send.
    """

    def __init__(self, config: Config, receiver: InstanceReceiver) -> None:
        self._config = config
        self._receiver = receiver
        self._in_flight = InFlight()
        self._server: GuardedServer | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful when configured as 0)."""
        assert self._server is not None, "node not started"
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind and serve associations in background threads."""
        node = self._config.node
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, _on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ACCEPTED, _on_accepted),
            (evt.EVT_REJECTED, _on_rejected),
            (evt.EVT_ABORTED, _on_aborted),
        ]
        ae = self._build_ae()
        limits = ConnectionLimits(node.acse_timeout, node.network_timeout, node.max_pdu,
                                  node.max_pending_connections, node.max_pending_per_address,
                                  node.max_dataset_mb * 1024 * 1024)
        pacing.install()
        try:
            server = cast(GuardedServer, ae.make_server(
                (node.host, node.port), evt_handlers=handlers, ssl_context=self._ssl_context(),
                server_class=GuardedServer, limits=limits))
        except OSError as exc:
            raise ListenError(
                f"cannot listen on {node.host}:{node.port} ({exc.strerror or exc}): another "
                f"program holds the port or it needs privileges; choose another [node] port "
                f"(--port)") from None
        ae._servers.append(server)  # as AE.start_server does: AE.shutdown() finds it there
        threading.Thread(target=server.serve_forever, name="listener", daemon=True).start()
        self._server = server

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop accepting, let the instances in flight finish, then close every association."""
        if self._server is None:
            return
        server = self._server
        # Stop the accept loop first (socketserver's own shutdown), keep associations open.
        socketserver.BaseServer.shutdown(server)
        server.server_close()
        if not self._in_flight.drain(grace_s):
            log.warning("instances still in flight after %.0f s; aborting them", grace_s)
        server.close_connections()  # a read blocked on a silent peer returns now
        for assoc in server.active_associations:
            assoc.abort()
        server.shutdown()
        self._server = None

    def _build_ae(self) -> GuardedAE:
        node = self._config.node
        ae = GuardedAE(ae_title=node.ae_title)
        ae.maximum_associations = node.max_associations
        ae.acse_timeout = node.acse_timeout
        ae.dimse_timeout = node.dimse_timeout
        ae.network_timeout = node.network_timeout
        ae.maximum_pdu_size = node.max_pdu
        ae.require_called_aet = True
        callers = self._config.access.allowed_callers
        if callers:
            ae.require_calling_aet = [c.ae_title for c in callers]
            ae.access = CallerAccess.from_callers(callers)
        ae.add_supported_context(Verification)
        syntaxes = accepted_transfer_syntaxes()
        for sop_class in STORAGE_SOP_CLASSES:
            ae.add_supported_context(sop_class, syntaxes)
        return ae

    def _ssl_context(self) -> ssl.SSLContext | None:
        tls = self._config.tls
        if not tls.enabled:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        if tls.ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(str(tls.ca_file))
        return context

    def _on_store(self, event: evt.Event) -> Dataset:
        if not self._in_flight.enter():
            return _status(StoreOutcome(StoreStatus.SHUTTING_DOWN, "node shutting down"))
        try:
            return _status(self._store(event))
        finally:
            self._in_flight.leave()

    def _store(self, event: evt.Event) -> StoreOutcome:
        request: Any = event.request
        refused = _context_mismatch(str(request.AffectedSOPClassUID),
                                    str(event.context.abstract_syntax)) or _oversize(event)
        if refused is not None:
            log.warning("C-STORE from %s refused (0x%04X): %s",
                        escaped(event.assoc.requestor.ae_title), refused.status, refused.comment)
            return refused
        try:
            dataset = event.dataset
            dataset.file_meta = event.file_meta
        except Exception as exc:
            log.warning("C-STORE data set does not decode: %s", type(exc).__name__)
            return StoreOutcome(StoreStatus.CANNOT_DECODE, "data set does not decode")
        try:
            return self._receiver.receive(ReceivedInstance(
                calling_ae=event.assoc.requestor.ae_title,
                sop_class_uid=str(request.AffectedSOPClassUID),
                sop_instance_uid=str(request.AffectedSOPInstanceUID),
                transfer_syntax_uid=str(event.context.transfer_syntax),
                dataset=dataset,
                encoded=event.encoded_dataset,
            ))
        except InstanceRejected as rejected:
            log.warning("C-STORE from %s refused (0x%04X): %s",
                        escaped(event.assoc.requestor.ae_title), rejected.outcome.status,
                        rejected.outcome.comment)
            return rejected.outcome
        except Exception:
            log.exception("unexpected error storing an instance")
            return StoreOutcome(StoreStatus.PROCESSING_FAILURE, "internal error, see node log")


def _context_mismatch(sop_class: str, context_syntax: str) -> StoreOutcome | None:
    """Why a C-STORE's SOP class cannot be taken on its presentation context, or None."""
    if sop_class != context_syntax:
        return StoreOutcome(StoreStatus.SOP_CLASS_NOT_SUPPORTED,
                            "SOP class differs from the presentation context's")
    if sop_class not in STORAGE_SOP_CLASSES:
        return StoreOutcome(StoreStatus.SOP_CLASS_NOT_SUPPORTED,
                            "SOP class not offered for storage")
    return None


def _status(outcome: StoreOutcome) -> Dataset:
    status = Dataset()
    status.Status = int(outcome.status)
    if outcome.comment:
        status.ErrorComment = outcome.comment
    return status


def _oversize(event: evt.Event) -> StoreOutcome | None:
    cap = refused_for_size(event.assoc, int(event.request.MessageID or 0))
    if cap is None:
        return None
    return StoreOutcome(StoreStatus.OUT_OF_RESOURCES,
                        f"data set over {cap // (1024 * 1024)} MiB: not stored")


def _on_echo(event: evt.Event) -> int:
    return 0x0000


def _peer(event: evt.Event) -> str:
    requestor = event.assoc.requestor
    return escaped(f"{requestor.ae_title}@{requestor.address}:{requestor.port}")


def _on_accepted(event: evt.Event) -> None:
    log.info("association accepted from %s", _peer(event))


def _on_rejected(event: evt.Event) -> None:
    log.warning("association rejected from %s", _peer(event))


def _on_aborted(event: evt.Event) -> None:
    log.info("association aborted by or for %s", _peer(event))
