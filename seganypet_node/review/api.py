"""The review service's JSON operations (``/api/...``): what the dashboard shows and does.

Every operation needs a login; every change also needs the session's CSRF token and is
written to the audit log in the same transaction as the change itself. The same
operations as the command line (`jobs`, `jobs --retry`, `send`, `send --retry`, `audit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from seganypet_node.db.jobs import JobNotFoundError, retry
from seganypet_node.db.listing import SeriesRow, list_series
from seganypet_node.db.outbound import OutboundRow, list_outbound, retry_failed
from seganypet_node.db.review import AuditEntry, list_audit
from seganypet_node.db.states import AuditAction, JobState, OutboundState
from seganypet_node.review.access import context_of, require_change, require_login
from seganypet_node.review.sessions import LoginSession

router = APIRouter(prefix="/api")
Login = Annotated[LoginSession, Depends(require_login)]
Change = Annotated[LoginSession, Depends(require_change)]
Limit = Annotated[int, Query(ge=1, le=5000)]


@dataclass(frozen=True)
class SessionInfo:
    """The logged-in user and the CSRF token their changes must send."""

    user: str
    full_name: str
    organisation: str
    csrf_token: str


@dataclass(frozen=True)
class Requeued:
    """What a retry put back in the queue."""

    job_id: int | None
    transfers: int


class TransferIds(BaseModel):
    """Failed transfers to queue again; none given: every failed one."""

    ids: list[int] = Field(default_factory=list, max_length=10000)


@router.get("/session", response_model=SessionInfo)
def session_info(login: Login) -> SessionInfo:
    """Who is logged in, with the CSRF token for ``X-CSRF-Token``."""
    return SessionInfo(login.user_name, login.full_name, login.organisation, login.csrf_token)


@router.get("/series", response_model=list[SeriesRow])
def series(request: Request, login: Login, limit: Limit = 200,
           job_state: JobState | None = None) -> list[SeriesRow]:
    """Received series, the most recently active first, with their jobs and transfers
    (``job_state``: only series whose job is in that state)."""
    with context_of(request).database.begin() as session:
        return list_series(session, context_of(request).config.results_dir, limit, job_state)


@router.get("/transfers", response_model=list[OutboundRow])
def transfers(request: Request, login: Login, limit: Limit = 200,
              state: OutboundState | None = None) -> list[OutboundRow]:
    """Result transfers, the newest first (``state``: only those in that state)."""
    with context_of(request).database.begin() as session:
        return list_outbound(session, limit, state)


@router.get("/audit", response_model=list[AuditEntry])
def audit(request: Request, login: Login, limit: Limit = 200,
          job_id: int | None = None) -> list[AuditEntry]:
    """The audit log, the newest first (``job_id``: only that job's steps)."""
    with context_of(request).database.begin() as session:
        return list_audit(session, limit, job_id)


@router.post("/jobs/{job_id}/retry", response_model=Requeued)
def retry_job(request: Request, job_id: int, login: Change) -> Requeued:
    """Queue a failed job again with a fresh attempt budget (``jobs --retry``); 409 when
    the job is not failed."""
    context = context_of(request)
    try:
        with context.database.begin() as session:
            retry(session, job_id, context.now())
            context.audit(session, login.user_name, AuditAction.JOB_RETRIED, job_id)
    except JobNotFoundError as exc:
        raise HTTPException(409, str(exc)) from None
    return Requeued(job_id, 0)


@router.post("/transfers/retry", response_model=Requeued)
def retry_transfers(request: Request, chosen: TransferIds, login: Change) -> Requeued:
    """Queue failed transfers again (``send --retry``): those given, or every failed one."""
    context = context_of(request)
    with context.database.begin() as session:
        count = retry_failed(session, context.now(), chosen.ids)
        ids = ", ".join(map(str, chosen.ids)) or "all failed"
        context.audit(session, login.user_name, AuditAction.TRANSFERS_RETRIED,
                      detail=f"{count} transfer(s): {ids}")
    return Requeued(None, count)
