"""The review page's JSON operations (``/api/jobs/{id}/review...``): open a study, look at it,
correct it step by step, undo.

The same operations a viewer plugin (OHIF, 3D Slicer) would drive: a click is given as a
picture pixel (plane, slice, row, column) or as a patient point in mm. Every step needs the
session's CSRF token and is written to the audit log with who took it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from seganypet_node.db.states import AuditAction
from seganypet_node.errors import NodeError
from seganypet_node.imaging.volume import point_of_voxel
from seganypet_node.pipeline.findings import CorrectionAction, DraftError, FindingStatus, Step
from seganypet_node.review.access import context_of, require_change, require_login
from seganypet_node.review.draft_views import ReviewState, review_state, study_overlays
from seganypet_node.review.drafts import OpenStudy
from seganypet_node.review.sessions import LoginSession
from seganypet_node.review.views import Plane, Window, render, voxel_at

router = APIRouter(prefix="/api/jobs/{job_id}/review")
Login = Annotated[LoginSession, Depends(require_login)]
Change = Annotated[LoginSession, Depends(require_change)]
AUDITED = {CorrectionAction.ACCEPT: AuditAction.FINDING_ACCEPTED,
           CorrectionAction.REJECT: AuditAction.FINDING_REJECTED,
           CorrectionAction.RELABEL: AuditAction.FINDING_RELABELLED,
           CorrectionAction.POSITIVE_CLICK: AuditAction.CORRECTIVE_CLICK,
           CorrectionAction.NEGATIVE_CLICK: AuditAction.CORRECTIVE_CLICK,
           CorrectionAction.ADD_LESION: AuditAction.LESION_ADDED,
           CorrectionAction.ADD_ORGAN: AuditAction.ORGAN_ADDED,
           CorrectionAction.UNDO: AuditAction.STEP_UNDONE}


class PicturePoint(BaseModel):
    """A click on one of the page's pictures."""

    plane: Plane
    index: int = Field(ge=0)
    row: int = Field(ge=0)
    col: int = Field(ge=0)


class StepRequest(BaseModel):
    """One correction: ``finding`` for all but ``add_lesion``, ``add_organ`` and ``undo``;
    ``name`` (an organ's catalogue name, or ``lesion`` for ``relabel``) for ``relabel`` and
    ``add_organ``; ``at`` or ``point_lps_mm`` for clicks and the two additions."""

    action: CorrectionAction
    finding: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=64)
    at: PicturePoint | None = None
    point_lps_mm: tuple[float, float, float] | None = None


@router.post("", response_model=ReviewState)
def open_review(request: Request, job_id: int, login: Change) -> ReviewState:
    """Open a done job for review (its series and results read once; the crops embedded
    beside the page); the open review when it is open already. 409 when the job is not done
    or its results cannot be read back."""
    context = context_of(request)
    opened = context.drafts.get(job_id) is None
    try:
        study = context.drafts.open(job_id, login.user_name)
    except NodeError as exc:  # not done, results or series unreadable: the message says
        raise HTTPException(409, str(exc)) from None
    if opened:
        with context.database.begin() as session:
            context.audit(session, login.user_name, AuditAction.REVIEW_OPENED, job_id)
    return review_state(study)


@router.get("", response_model=ReviewState)
def get_review(request: Request, job_id: int, login: Login) -> ReviewState:
    """The open review: findings with their figures, references, tumour burden, steps."""
    return review_state(_open(request, job_id))


@router.get("/picture.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def picture(request: Request, job_id: int, login: Login, plane: Plane,
            index: Annotated[int, Query(ge=0)] = 0,
            low: float = 0.0, high: float = 10.0, selected: str | None = None) -> Response:
    """One plane (or the MIP) in the window ``low``..``high`` with the findings' outlines,
    one pixel per voxel; ``selected`` is drawn thicker."""
    study = _open(request, job_id)
    try:
        window = Window(low, high)
        png = render(study.draft.values, plane, index, window,
                     study_overlays(study, selected), study.draft.head_first,
                     study.mip if plane is Plane.MIP else None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(png, media_type="image/png")


@router.post("/steps", response_model=ReviewState)
def take_step(request: Request, job_id: int, asked: StepRequest, login: Change) -> ReviewState:
    """Take one correction step; 422 when the step cannot be taken (no such finding, a
    label already taken, a click outside the image, nothing to undo)."""
    context = context_of(request)
    study = _open(request, job_id)
    try:
        step = _step(study, asked)
    except DraftError as exc:
        raise HTTPException(422, str(exc)) from None
    with context.database.begin() as session:
        context.audit(session, login.user_name, AUDITED[step.action], job_id,
                      f"{step.finding}: {step.detail}" if step.finding else step.detail)
    return review_state(study, step)


def _step(study: OpenStudy, asked: StepRequest) -> Step:
    draft = study.draft
    action = asked.action
    if action is CorrectionAction.UNDO:
        return draft.undo()
    if action is CorrectionAction.ADD_LESION:
        return draft.add_lesion(_point(study, asked))
    if action is CorrectionAction.ADD_ORGAN:
        if not asked.name:
            raise DraftError("add_organ needs the organ's name")
        return draft.add_organ(asked.name, _point(study, asked))
    key = asked.finding
    if key is None:
        raise DraftError(f"{action.value} needs the finding it applies to")
    if action in (CorrectionAction.ACCEPT, CorrectionAction.REJECT):
        return draft.set_status(key, FindingStatus.ACCEPTED if action is CorrectionAction.ACCEPT
                                else FindingStatus.REJECTED)
    if action is CorrectionAction.RELABEL:
        if not asked.name:
            raise DraftError("relabel needs the new name")
        return draft.relabel(key, asked.name)
    return draft.click(key, _point(study, asked), action is CorrectionAction.POSITIVE_CLICK)


def _point(study: OpenStudy, asked: StepRequest) -> tuple[float, float, float]:
    """The patient point a step's click means."""
    if asked.point_lps_mm is not None:
        return asked.point_lps_mm
    if asked.at is None:
        raise DraftError(f"{asked.action.value} needs a click (at or point_lps_mm)")
    draft = study.draft
    try:
        voxel = voxel_at(draft.values, asked.at.plane, asked.at.index, asked.at.row,
                         asked.at.col, draft.head_first)
    except ValueError as exc:
        raise DraftError(str(exc)) from None
    return point_of_voxel(draft.suv, voxel)


def _open(request: Request, job_id: int) -> OpenStudy:
    study = context_of(request).drafts.get(job_id)
    if study is None:
        raise HTTPException(404, f"job {job_id} is not open for review (POST to open it)")
    return study
