"""The login form and logout.

The login form is protected against login CSRF by a double-submit token: a random value in a
short-lived SameSite=Strict cookie and in a hidden field, which must match.
"""

from __future__ import annotations

import hmac
import re
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from server.auth.accounts import SESSION_TTL_S, Accounts
from server.auth.errors import LoginError
from server.auth.middleware import SESSION_COOKIE

LOGIN_CSRF_COOKIE = "edgelabel_login_csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
MAX_FIELD_CHARS = 1024


def auth_routes(accounts: Accounts, templates: Jinja2Templates) -> list[Route]:
    async def login_form(request: Request) -> Response:
        return _login_page(request, templates, error=None, status=200)

    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        name, password, token = (str(form.get(k, ""))[:MAX_FIELD_CHARS] for k in ("name", "password", "csrf_token"))
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not token or not hmac.compare_digest(token.encode(), cookie.encode()):
            return _login_page(request, templates, "the form expired: please try again", status=403)
        try:
            session_token, session = await run_in_threadpool(accounts.login, name, password, client_address(request))
        except LoginError as exc:
            return _login_page(request, templates, str(exc), status=401)
        response = RedirectResponse("/review" if session.role == "reviewer" else "/dashboard", status_code=303)
        response.set_cookie(SESSION_COOKIE, session_token, max_age=int(SESSION_TTL_S), path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    async def logout(request: Request) -> Response:
        # Behind the session middleware: the CSRF header was checked already.
        await run_in_threadpool(accounts.logout, request.cookies.get(SESSION_COOKIE, ""))
        response = JSONResponse({"logged_out": True})
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def client_address(request: Request) -> str:
    """The peer's IP (a trusted proxy's X-Forwarded-For when ``serve --trusted-proxy`` names it)."""
    return request.client.host if request.client else "unknown"


def _login_page(request: Request, templates: Jinja2Templates, error: str | None, status: int) -> Response:
    # Reuse the browser's token: a second GET /login (a favicon redirected here) must not void an open form.
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _TOKEN.fullmatch(token):
        token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "login.html", {"csrf_token": token, "error": error},
                                          status_code=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response
