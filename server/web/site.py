"""The collector's web application: login, pages, the JSON API and static files, all behind
:class:`server.auth.middleware.SessionMiddleware`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from server.api.app import MAX_BODY_BYTES, api_routes
from server.auth.accounts import Accounts
from server.auth.middleware import (
    NO_STORE,
    SECURITY_HEADERS,
    SessionMiddleware,
    session_of,
)
from server.auth.pages import auth_routes
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database, open_database
from server.media import MediaBackend
from server.review.queue import DEFAULT_LEASE_S
from server.web.body_limit import LOGIN_MAX_BODY_BYTES, BodyLimitMiddleware
from server.web.pages import page_routes

WEB_DIR = Path(__file__).resolve().parent
log = logging.getLogger("server.web")


def create_site(data_dir: Path, lease_seconds: float = DEFAULT_LEASE_S,
                clock: Callable[[], float] = time.time, consistency_policy: ConsistencyPolicy | None = None,
                db: Database | None = None, media: MediaBackend | None = None) -> Starlette:
    """The site over ``db`` (``serve`` passes its own, so the process has one database); None opens
    one for the site, closed when the app stops."""
    owned_db = open_database(Path(data_dir), "current") if db is None else None
    db = db or owned_db
    accounts = Accounts(db)
    try:
        api = api_routes(db, data_dir, lambda request: session_of(request).account,
                         lambda request: session_of(request).role, lease_seconds, clock,
                         consistency_policy=consistency_policy, media=media)
    except BaseException:
        if owned_db is not None:
            owned_db.close()
        raise
    templates = Jinja2Templates(env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True, undefined=jinja2.StrictUndefined))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if owned_db is not None:
            owned_db.close()

    app = Starlette(
        routes=[*auth_routes(accounts, templates), *page_routes(templates), *api.routes,
                Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")],
        exception_handlers={**api.exception_handlers, Exception: _server_error},
        # Outermost first: the session layer's security headers cover the body limit's 413 too.
        middleware=[Middleware(SessionMiddleware, accounts=accounts),
                    Middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES,
                               limits_by_path={"/login": LOGIN_MAX_BODY_BYTES})],
        lifespan=lifespan,
    )
    app.state.queue, app.state.accounts, app.state.owned_db = api.queue, accounts, owned_db
    return app


async def _server_error(request: Request, exc: Exception) -> Response:
    """A 500 with the security headers: Starlette answers it outside every middleware of ours."""
    log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    body = json.dumps({"error": "internal", "detail": "the collector failed to answer: see its log"}).encode()
    headers = {name.decode(): value.decode() for name, value in [*SECURITY_HEADERS, NO_STORE]}
    return Response(body, status_code=500, media_type="application/json", headers=headers)

