"""Every route behind a session, every state change behind the session's CSRF token.

Deny by default: only the login page and the static files (no data in them) answer without a
session. Without one, API paths get 401 JSON and pages a redirect to the login form. A request
that changes state (any method but GET/HEAD) must carry the session's CSRF token in the
``X-CSRF-Token`` header, else 403; the scripts read it from the page's ``<meta name="csrf-token">``.
Admin-only paths answer 403 to reviewers. Security headers go on every answer (errors too: see
:func:`server.web.site.create_site`), and ``Cache-Control: no-store`` on every one but static files.
"""

from __future__ import annotations

import hmac
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth.accounts import Accounts

SESSION_COOKIE = "edgelabel_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SCOPE_KEY = "edgelabel.session"
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
ADMIN_PREFIXES = ("/dashboard", "/api/dashboard", "/consistency", "/adjudicate", "/classes", "/frames")
"""Pages (and the dashboard's API) of admins only; admin-only API routes elsewhere check the role themselves."""
SAFE_METHODS = ("GET", "HEAD")

SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self';"
                                  b" object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
NO_STORE = (b"cache-control", b"no-store")


class SessionMiddleware:
    def __init__(self, app: ASGIApp, accounts: Accounts):
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        send = with_security_headers(send, no_store=not path.startswith(PUBLIC_PREFIXES))
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        session = await run_in_threadpool(self.accounts.session, connection.cookies.get(SESSION_COOKIE))
        if session is None:
            if path.startswith("/api/"):
                await _json(send, 401, "not_authenticated", "log in first (POST /login)")
            else:
                await _redirect(send, "/login")
            return
        if method not in SAFE_METHODS:
            sent = connection.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                await _json(send, 403, "csrf", f"missing or wrong {CSRF_HEADER} header: reload the page")
                return
        if path.startswith(ADMIN_PREFIXES) and session.role != "admin":
            await _json(send, 403, "forbidden", "only admins may open this page")
            return
        scope[SESSION_SCOPE_KEY] = session
        await self.app(scope, receive, send)


def session_of(connection: HTTPConnection):
    """The session the middleware found (every non-public route has one)."""
    return connection.scope[SESSION_SCOPE_KEY]


def with_security_headers(send: Send, no_store: bool = True) -> Send:
    """``send`` adding :data:`SECURITY_HEADERS`, and ``Cache-Control: no-store`` (with ``no_store``) to an
    answer that sets no caching of its own, so no shared cache or browser history keeps API data."""
    extra = SECURITY_HEADERS + ([NO_STORE] if no_store else [])

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in names]
        await send(message)
    return wrapped


async def _json(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
