"""The collector's web application: login, pages, the JSON API and static files, all behind
:class:`server.auth.middleware.SessionMiddleware`."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from server.api.app import api_routes
from server.auth.accounts import Accounts
from server.auth.middleware import SessionMiddleware, session_of
from server.auth.pages import auth_routes
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database, open_database
from server.media import MediaBackend
from server.review.queue import DEFAULT_LEASE_S
from server.web.pages import page_routes

WEB_DIR = Path(__file__).resolve().parent


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
        exception_handlers=api.exception_handlers,
        middleware=[Middleware(SessionMiddleware, accounts=accounts)],
        lifespan=lifespan,
    )
    app.state.queue, app.state.accounts, app.state.owned_db = api.queue, accounts, owned_db
    return app

