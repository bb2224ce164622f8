"""The review service's HTML: the login page, the operator's dashboard, the review page.

Pages are small shells; what they show comes from the JSON operations (``review/api.py``)
through ``static/dashboard.js``, every asset served by the node itself (no CDN).
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from seganypet_node.review.access import (
    COOKIE,
    context_of,
    log_in,
    log_out,
    login_of,
    require_change,
    same_origin,
)
from seganypet_node.review.sessions import LoginSession

router = APIRouter()
MAX_FIELD = 256


def _page(name: str, **values: str) -> str:
    """A page of ``static/`` with its ``{{key}}`` places filled by escaped values."""
    text = resources.files("seganypet_node.review").joinpath("static", name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return text


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page() -> HTMLResponse:
    return HTMLResponse(_page("login.html", message=""))


@router.post("/login", include_in_schema=False)
def login(request: Request, user: Annotated[str, Form(max_length=MAX_FIELD)],
          password: Annotated[str, Form(max_length=MAX_FIELD)]) -> Response:
    """Check the name and password; on success a session cookie and the dashboard."""
    if not same_origin(request):
        return HTMLResponse(_page("login.html", message="refused: the form came from "
                                  "another site"), status_code=403)
    context = context_of(request)
    token = log_in(context, user, password)
    if token is None:
        return HTMLResponse(_page("login.html", message="wrong user name or password"),
                            status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                        secure=context.config.review.tls, path="/")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request,
           login: Annotated[LoginSession, Depends(require_change)]) -> Response:
    log_out(context_of(request), request.cookies.get(COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request) -> Response:
    """The operator's dashboard; the login page first when there is no session."""
    found = login_of(request)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(_page("dashboard.html", user=found.full_name or found.user_name,
                              organisation=found.organisation))


@router.get("/review/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request, job_id: int) -> Response:
    """The physician's review page of one job; the login page first without a session."""
    found = login_of(request)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    return HTMLResponse(_page("review.html", job=str(job_id),
                              user=found.full_name or found.user_name,
                              organisation=found.organisation))
