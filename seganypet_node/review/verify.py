"""Verifying a job's results: the VERIFIED SR written, queued, audited.

``POST /api/jobs/{id}/verify``. When the job is open for review and the reader changed
something, the corrected SEG, SR (VERIFIED, the automatic SR its predecessor, measurements of
the corrected masks) and key image are written as new series (:mod:`outputs.corrected`) and
queued. Otherwise the automatic SR is verified as it is: with ``[review]
require_verification`` the SEG and key image were held back when the job finished and are
queued now with the verified report; without it they were sent already and only the
verified report goes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pydicom
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from PIL import Image

from seganypet_node.config import Config
from seganypet_node.db.jobs import JobNotFoundError, job_results_dir, verify
from seganypet_node.db.states import AuditAction
from seganypet_node.dicom.scu import queue_results
from seganypet_node.outputs.corrected import write_corrected_results
from seganypet_node.outputs.dicom_results import OutputsUnavailableError, object_path
from seganypet_node.outputs.kinds import ObjectKind, ResultObject
from seganypet_node.outputs.verified import Verifier, write_verified_report
from seganypet_node.pipeline import RunSource
from seganypet_node.review.access import context_of, require_change, require_login
from seganypet_node.review.drafts import OpenStudy
from seganypet_node.review.sessions import LoginSession

router = APIRouter(prefix="/api")
HELD_BACK = (ObjectKind.SEG, ObjectKind.KEY_IMAGE)


@dataclass(frozen=True)
class Verified:
    """What a verification wrote and queued."""

    job_id: int
    sop_instance_uid: str
    transfers: int
    corrected: bool = False  # the reader's corrected SEG/SR/key image, not the automatic ones


@router.post("/jobs/{job_id}/verify", response_model=Verified)
def verify_job(request: Request, job_id: int,
               login: Annotated[LoginSession, Depends(require_change)]) -> Verified:
    """Verify a done job's results as they are: a VERIFIED SR signed by the logged-in user
    (the automatic SR as its predecessor), queued to the job's destinations; 409 when the
    job is not done, was verified already, or has no SR."""
    context = context_of(request)
    config = context.config
    folder = job_results_dir(config.results_dir, job_id)
    now = context.now()
    verifier = Verifier(person_name(login.full_name or login.user_name), login.organisation)
    study = context.drafts.get(job_id)
    corrected = study is not None and study.draft.changed
    try:
        with context.database.begin() as session:
            verify(session, job_id, login.user_name, now)
            if study is not None and corrected:
                objects = list(_write_corrected(study, folder, verifier, now, config))
                detail = f"corrected in {len(study.draft.steps)} step(s); "
            else:
                report = write_verified_report(folder, verifier, now)
                held = held_objects(folder) if config.review.require_verification else []
                objects, detail = [report, *held], "as the automatic run gave it; "
            report = next(o for o in objects if o.kind is ObjectKind.SR)
            queued = queue_results(session, config, job_id, objects)
            context.audit(session, login.user_name, AuditAction.RESULTS_VERIFIED, job_id,
                          f"{detail}SR {report.sop_instance_uid}; {queued} transfer(s) queued")
    except JobNotFoundError as exc:
        raise HTTPException(409, str(exc)) from None
    except FileNotFoundError:
        raise HTTPException(409, f"job {job_id} has no automatic report to verify") from None
    except OutputsUnavailableError as exc:
        raise HTTPException(409, f"nothing to report: {exc}") from None
    if study is not None:
        context.drafts.close(job_id)
    return Verified(job_id, report.sop_instance_uid, queued, corrected)


def _write_corrected(study: OpenStudy, folder: Path, verifier: Verifier, now: dt.datetime,
                     config: Config) -> tuple[ResultObject, ...]:
    """The corrected SEG, verified SR and key image of an open review."""
    draft = study.draft
    result = dataclasses.replace(draft.result(), model=study.model)
    first = draft.volume.pet.sources[0] if draft.volume.pet is not None else None
    source = RunSource(job=study.job_id,
                       series_instance_uid=None if first is None else str(first.SeriesInstanceUID),
                       study_instance_uid=None if first is None else str(first.StudyInstanceUID))
    return write_corrected_results(result, draft.volume, folder, source, verifier, now,
                                   config.node.ae_title, config.outputs.research_label)


@router.get("/jobs/{job_id}/key-image.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def key_image(request: Request, job_id: int,
              login: Annotated[LoginSession, Depends(require_login)]) -> Response:
    """The job's key image (MIP with the organ and lesion outlines and their figures) as a
    PNG; 404 when the job has none."""
    context = context_of(request)
    path = object_path(job_results_dir(context.config.results_dir, job_id),
                       ObjectKind.KEY_IMAGE)
    if not path.is_file():
        raise HTTPException(404, f"job {job_id} has no key image")
    pixels = np.asarray(pydicom.dcmread(path).pixel_array)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png")


def person_name(full_name: str) -> str:
    """A display name ("Dr Alice Reader") as a DICOM Person Name ("Reader^Alice^^Dr")."""
    words = full_name.split()
    prefix = words.pop(0) if words and words[0].rstrip(".").lower() in {
        "dr", "prof", "mr", "mrs", "ms"} else ""
    if not words:
        return prefix or full_name
    family, given = words[-1], " ".join(words[:-1])
    return "^".join([family, given, "", prefix]).rstrip("^")


def held_objects(folder: Path) -> list[ResultObject]:
    """The SEG and key image of a result folder, as the worker would have queued them."""
    found = []
    for kind in HELD_BACK:
        path = object_path(folder, kind)
        if path.is_file():
            header = pydicom.dcmread(path, stop_before_pixels=True)
            found.append(ResultObject(kind, path, str(header.SOPClassUID),
                                      str(header.SOPInstanceUID)))
    return found
