"""C-STORE sender: delivers result objects from the outbound queue to their destinations.

One association per batch (the rows of one destination), status checked per object. Success
and warning statuses confirm an object; a failure status, a refused or broken association or an
unreadable file sends the row back to the queue with a backoff (see :mod:`db.outbound`).
Runs as a thread of ``serve``; ``seganypet-node send --run`` drains the queue once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.config import Config
from seganypet_node.db.engine import utcnow
from seganypet_node.db.models import Job, Series
from seganypet_node.db.outbound import (
    OutboundItem,
    OutboundObject,
    RetryPolicy,
    claim_batch,
    enqueue,
    mark_failed,
    mark_sent,
    release,
)
from seganypet_node.outputs.kinds import ResultObject
from seganypet_node.polling import QueuePoller
from seganypet_node.settings_values import RemoteAE

log = logging.getLogger(__name__)

WARNING_STATUSES = (0x0001, 0xB000, 0xB006, 0xB007)  # coercion, elements discarded: stored


@dataclass(frozen=True)
class Delivery:
    """What happened to one object: sent, or why not."""

    row_id: int
    sent: bool
    reason: str = ""


def result_destinations(config: Config, calling_ae: str) -> tuple[RemoteAE, ...]:
    """Where the results of a series sent by ``calling_ae`` go: the caller (when its allow-list
    entry says where) and every fixed destination, each once."""
    found: list[RemoteAE] = []
    caller = config.caller(calling_ae) if config.send.to_caller else None
    back = (caller.storage_scp,) if caller else ()
    for destination in back + config.send.destinations:
        if destination not in found:
            found.append(destination)
    return tuple(found)


def why_not_sent(config: Config, calling_ae: str) -> str | None:
    """Why results of a series sent by ``calling_ae`` go nowhere (with what to change), or
    None when they have a destination."""
    if result_destinations(config, calling_ae):
        return None
    back = ("[send] to_caller is false" if not config.send.to_caller else
            f"caller {calling_ae} has no [access] allowed_callers entry saying where")
    return f"not sent: {back} and [send] destinations is empty"


def queue_results(session: Session, config: Config, job_id: int,
                  objects: Sequence[ResultObject]) -> int:
    """Queue result files (at their final place under the data directory) to every
    destination of the job's series; how many transfers were added."""
    series_id = session.get_one(Job, job_id).series_id
    calling_ae = session.get_one(Series, series_id).calling_ae
    destinations = result_destinations(config, calling_ae)
    if objects and not destinations:
        log.info("job %d: results %s", job_id, why_not_sent(config, calling_ae))
    root = config.node.data_dir
    items = [OutboundObject(o.kind, o.sop_class_uid, o.sop_instance_uid,
                            str(o.path.relative_to(root))) for o in objects]
    return enqueue(session, job_id, items, destinations, utcnow())


def retry_policy(config: Config) -> RetryPolicy:
    """The configured backoff."""
    send = config.send
    return RetryPolicy(send.max_attempts, send.retry_initial_s, send.retry_max_s)


class ResultSender(QueuePoller):
    """Drains the outbound queue.

    Parameters
    ----------
    config : Config
        Calling AE title, timeouts, batch size, backoff, data dir.
    sessions : sqlalchemy.orm.sessionmaker
        Session factory of the node's database.
    """

    def __init__(self, config: Config, sessions: sessionmaker[Session], name: str = "s1") -> None:
        super().__init__("sender", name, config.send.poll_interval_s)
        self.config = config
        self.sessions = sessions

    def step(self) -> bool:
        return self.run_once() > 0

    def run_once(self) -> int:
        """Claim and send one batch; returns the number of rows handled (0: nothing due)."""
        send = self.config.send
        with self.sessions.begin() as session:
            batch = claim_batch(session, self.owner, dt.timedelta(seconds=send.lease_s), utcnow(),
                                send.batch_size)
        if not batch:
            return 0
        deliveries = self.deliver(batch)
        sent = sum(d.sent for d in deliveries)
        log.info("sender: %d object(s) confirmed, %d failed", sent, len(deliveries) - sent)
        return len(deliveries)

    def drain(self) -> int:
        """Send every row that is due now; returns the number of rows handled."""
        total = 0
        while (handled := self.run_once()) > 0:
            total += handled
        return total

    def deliver(self, batch: Sequence[OutboundItem]) -> list[Delivery]:
        """Send a batch for one destination over one association, recording each outcome.

        Each object's outcome is committed as soon as its response arrives, so an object the
        destination confirmed is never sent again, even when the node dies mid-batch.
        """
        destination = batch[0].destination
        ready: list[tuple[OutboundItem, pydicom.Dataset]] = []
        results: list[Delivery] = []
        for item in batch:
            try:
                ready.append((item, self._read(item)))
            except (OSError, InvalidDicomError) as exc:
                results.append(Delivery(item.row_id, False, f"cannot read the object: {exc}"))
        self._record(results)
        if not ready or self._released_if_stopping([item for item, _ in ready]):
            return results
        assoc = self._associate(destination, {str(ds.SOPClassUID) for _, ds in ready})
        if assoc is None or not assoc.is_established:
            reason = f"no association with {destination.ae_title}@{destination.host}:" \
                     f"{destination.port} (refused, unreachable or timed out)"
            refused = [Delivery(item.row_id, False, reason) for item, _ in ready]
            self._record(refused)
            return results + refused
        try:
            for k, (item, dataset) in enumerate(ready):
                if self._released_if_stopping([later for later, _ in ready[k:]]):
                    break
                delivery = self._store(assoc, item, dataset)
                self._record([delivery])
                results.append(delivery)
        finally:
            if assoc.is_established:
                assoc.release()
        return results

    def _released_if_stopping(self, items: Sequence[OutboundItem]) -> bool:
        """When the node is stopping, hand ``items`` back unsent (no attempt spent): True."""
        if not self.stopping:
            return False
        with self.sessions.begin() as session:
            count = release(session, [item.row_id for item in items], self.owner, utcnow())
        log.info("sender: %d object(s) handed back to the queue (the node is stopping)", count)
        return True

    def _store(self, assoc: Association, item: OutboundItem,
               dataset: pydicom.Dataset) -> Delivery:
        if not assoc.is_established:
            return Delivery(item.row_id, False, "association ended before this object")
        try:
            status = assoc.send_c_store(dataset)
        except (RuntimeError, ValueError) as exc:  # no accepted context, connection lost
            return Delivery(item.row_id, False, f"C-STORE not possible: {exc}")
        code = int(getattr(status, "Status", -1)) if status else -1
        if code == 0x0000 or code in WARNING_STATUSES:
            return Delivery(item.row_id, True)
        if code == -1:
            return Delivery(item.row_id, False, "no C-STORE response (connection lost)")
        comment = str(status.get("ErrorComment", "")) if status else ""
        return Delivery(item.row_id, False, f"C-STORE status 0x{code:04X} {comment}".strip())

    def _associate(self, destination: RemoteAE, sop_classes: set[str]) -> Association | None:
        node = self.config.node
        ae = AE(ae_title=node.ae_title)
        ae.acse_timeout = node.acse_timeout
        ae.dimse_timeout = node.dimse_timeout
        ae.network_timeout = node.network_timeout
        for sop_class in sorted(sop_classes):
            ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        try:
            return ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                                max_pdu=node.max_pdu)
        except (OSError, RuntimeError, ValueError):
            return None

    def _read(self, item: OutboundItem) -> pydicom.Dataset:
        # The stored path was built by the node from a job id, never from a header value;
        # still refuse anything that would leave the data directory.
        root = self.config.node.data_dir.resolve()
        path = (root / item.item.relative_path).resolve()
        if root not in path.parents:
            raise OSError(f"path outside the data directory: {item.item.relative_path}")
        return pydicom.dcmread(Path(path))

    def _record(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        policy = retry_policy(self.config)
        with self.sessions.begin() as session:
            now = utcnow()
            for delivery in deliveries:
                if delivery.sent:
                    if not mark_sent(session, delivery.row_id, self.owner, now):
                        log.warning("outbound %d: sent, but its lease had passed to another "
                                    "sender", delivery.row_id)
                    continue
                state = mark_failed(session, delivery.row_id, self.owner, delivery.reason, now,
                                    policy)
                log.warning("outbound %d: %s (%s)", delivery.row_id, delivery.reason,
                            state.value if state else "lease lost")
