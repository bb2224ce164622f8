"""The outbound queue: one row per result object x destination, until the destination confirms.

A sender claims a batch (rows for one destination) with a lease; each row ends SENT, or goes
back to PENDING with an exponential backoff, or FAILED after the configured number of attempts
(``seganypet-node send --retry`` puts failed rows back). Rows survive restarts; a sender that
dies leaves its lease to expire and another takes the batch over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from seganypet_node.db.models import Outbound
from seganypet_node.db.states import OutboundState
from seganypet_node.outputs.kinds import ObjectKind
from seganypet_node.settings_values import RemoteAE


@dataclass(frozen=True)
class OutboundObject:
    """A result file to send: what it is and where it lies (relative to the data dir)."""

    kind: ObjectKind
    sop_class_uid: str
    sop_instance_uid: str
    relative_path: str


@dataclass(frozen=True)
class OutboundItem:
    """One claimed row: the object and its destination."""

    row_id: int
    job_id: int
    item: OutboundObject
    destination: RemoteAE
    attempt: int


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed transfer is tried again."""

    max_attempts: int
    initial_s: float
    max_s: float

    def delay(self, attempts: int) -> dt.timedelta:
        """Wait after the ``attempts``-th failed attempt: doubling from ``initial_s``."""
        return dt.timedelta(seconds=min(self.max_s, self.initial_s * 2 ** max(0, attempts - 1)))


def enqueue(session: Session, job_id: int, objects: Sequence[OutboundObject],
            destinations: Sequence[RemoteAE], now: dt.datetime) -> int:
    """Add a PENDING row per object and destination (existing pairs are left alone)."""
    existing = {(uid, ae) for uid, ae in session.execute(
        select(Outbound.sop_instance_uid, Outbound.destination_ae)
        .where(Outbound.job_id == job_id))}
    added = 0
    for destination in destinations:
        for obj in objects:
            if (obj.sop_instance_uid, destination.ae_title) in existing:
                continue
            session.add(Outbound(
                job_id=job_id, object_kind=obj.kind.value, sop_class_uid=obj.sop_class_uid,
                sop_instance_uid=obj.sop_instance_uid, spool_path=obj.relative_path,
                destination_ae=destination.ae_title, destination_host=destination.host,
                destination_port=destination.port, state=OutboundState.PENDING, attempts=0,
                next_attempt_at=now, created_at=now, updated_at=now))
            added += 1
    return added


def claim_batch(session: Session, owner: str, lease: dt.timedelta, now: dt.datetime,
                limit: int) -> list[OutboundItem]:
    """Claim up to ``limit`` due rows for the destination of the oldest due row."""
    due = or_(
        (Outbound.state == OutboundState.PENDING) & (Outbound.next_attempt_at <= now),
        (Outbound.state == OutboundState.SENDING) & (Outbound.lease_expires_at < now),
    )
    first = session.scalars(select(Outbound).where(due).order_by(Outbound.id).limit(1)
                            .with_for_update(skip_locked=True)).first()
    if first is None:
        return []
    rows = session.scalars(
        select(Outbound).where(due, Outbound.destination_ae == first.destination_ae,
                               Outbound.destination_host == first.destination_host,
                               Outbound.destination_port == first.destination_port)
        .order_by(Outbound.id).limit(limit).with_for_update(skip_locked=True)).all()
    for row in rows:
        row.state = OutboundState.SENDING
        row.attempts += 1
        row.lease_owner = owner
        row.lease_expires_at = now + lease
        row.updated_at = now
    return [_item(row) for row in rows]


def mark_sent(session: Session, row_id: int, owner: str, now: dt.datetime) -> bool:
    """Record a confirmed transfer; False when the lease had passed to another sender."""
    row = _held(session, row_id, owner)
    if row is None:
        return False
    row.state = OutboundState.SENT
    row.sent_at = now
    row.updated_at = now
    row.last_error = None
    row.lease_owner = row.lease_expires_at = None
    return True


def mark_failed(session: Session, row_id: int, owner: str, reason: str, now: dt.datetime,
                policy: RetryPolicy) -> OutboundState | None:
    """Record a failed attempt: back to PENDING after the backoff, or FAILED at the limit."""
    row = _held(session, row_id, owner)
    if row is None:
        return None
    row.last_error = reason
    row.updated_at = now
    row.lease_owner = row.lease_expires_at = None
    if row.attempts >= policy.max_attempts:
        row.state = OutboundState.FAILED
    else:
        row.state = OutboundState.PENDING
        row.next_attempt_at = now + policy.delay(row.attempts)
    return row.state


def release(session: Session, row_ids: Sequence[int], owner: str, now: dt.datetime) -> int:
    """Hand rows ``owner`` claimed but did not send back to the queue, due now and without
    counting the attempt (the node is stopping); the number handed back."""
    released = 0
    for row_id in row_ids:
        row = _held(session, row_id, owner)
        if row is None:
            continue
        row.state = OutboundState.PENDING
        row.attempts = max(0, row.attempts - 1)
        row.next_attempt_at = now
        row.lease_owner = row.lease_expires_at = None
        row.updated_at = now
        released += 1
    return released


def retry_failed(session: Session, now: dt.datetime, row_ids: Sequence[int] = ()) -> int:
    """Put FAILED rows (all, or those given) back in the queue with fresh attempts."""
    query = select(Outbound).where(Outbound.state == OutboundState.FAILED)
    if row_ids:
        query = query.where(Outbound.id.in_(row_ids))
    rows = session.scalars(query).all()
    for row in rows:
        row.state = OutboundState.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.updated_at = now
    return len(rows)


@dataclass(frozen=True)
class OutboundRow:
    """One transfer as ``seganypet-node send`` lists it."""

    row_id: int
    job_id: int
    kind: ObjectKind
    destination: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None


def list_outbound(session: Session, limit: int = 200,
                  state: OutboundState | None = None) -> list[OutboundRow]:
    """The newest transfers first (``state``: only those in that state)."""
    query = select(Outbound)
    if state is not None:
        query = query.where(Outbound.state == state)
    rows = session.scalars(query.order_by(Outbound.id.desc()).limit(limit)).all()
    return [OutboundRow(r.id, r.job_id, ObjectKind(r.object_kind),
                        f"{r.destination_ae}@{r.destination_host}:{r.destination_port}",
                        r.state.value, r.attempts, r.last_error, r.sent_at) for r in rows]


def pending_count(session: Session) -> int:
    """Rows not yet confirmed and not given up (PENDING or SENDING)."""
    states = (OutboundState.PENDING, OutboundState.SENDING)
    return session.scalar(select(func.count(Outbound.id))
                          .where(Outbound.state.in_(states))) or 0


def _held(session: Session, row_id: int, owner: str) -> Outbound | None:
    row = session.get(Outbound, row_id)
    if row is None or row.state != OutboundState.SENDING or row.lease_owner != owner:
        return None
    return row


def _item(row: Outbound) -> OutboundItem:
    obj = OutboundObject(ObjectKind(row.object_kind), row.sop_class_uid, row.sop_instance_uid,
                         row.spool_path)
    destination = RemoteAE(row.destination_ae, row.destination_host, row.destination_port)
    return OutboundItem(row.id, row.job_id, obj, destination, row.attempts)
