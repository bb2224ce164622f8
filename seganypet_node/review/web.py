"""The review service's application: routes, static assets, headers every response gets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node import __version__
from seganypet_node.config import Config
from seganypet_node.db.engine import utcnow
from seganypet_node.review import api, draft_api, pages, verify
from seganypet_node.review.access import ReviewContext
from seganypet_node.review.drafts import DraftStore
from seganypet_node.review.sessions import LoginSessions

STATIC = Path(__file__).resolve().parent / "static"
# Everything from the node itself: no CDN, no inline script, no framing by another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not no-referrer: with it Chromium sends "Origin: null" on the login form post.
    "Referrer-Policy": "same-origin",
}


def review_app(config: Config, database: sessionmaker[Session]) -> FastAPI:
    """The review service as an ASGI application.

    Parameters
    ----------
    config : Config
        ``[review]`` (session length, TLS, the verification gate), where results are and
        where they are sent.
    database : sessionmaker
        The node's database (users, audit log, series, jobs, transfers).
    """
    app = FastAPI(title="seganypet-node review", version=__version__,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    idle = dt.timedelta(minutes=config.review.session_minutes)
    app.state.review = ReviewContext(config, database, LoginSessions(idle), utcnow,
                                     DraftStore(config, database))
    app.include_router(api.router)
    app.include_router(verify.router)
    app.include_router(draft_api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(_security_headers)
    return app


async def _security_headers(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # patient data stays out of caches
    return response
