"""What the admin-only JSON routes share: who is calling and whether the caller is an admin.

The check is made per route against the role of the caller's session (the site's login middleware
finds the session, with its account's role, on every request), so a reviewer gets a 403 with a
JSON error, not a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

UserOf = Callable[[Request], Awaitable[str]]
"""The logged-in caller's account name (raises when nobody is logged in)."""
CurrentRole = Callable[[Request], "str | None"]
"""The caller's role (``reviewer`` or ``admin``), None when unknown."""
JsonBody = Callable[[Request, type], Awaitable]
"""A request's JSON body read into the given dataclass of :mod:`server.api.bodies` (400 when it does not fit)."""
AdminOf = Callable[[Request], Awaitable["str | None"]]


def no_role(request: Request) -> None:
    """The role of a caller behind no login layer: none, so admin routes answer 403."""
    return None


def admin_check(user_of: UserOf, current_role: CurrentRole) -> AdminOf:
    """A function of a request: the caller's name when its session's role is admin, else None."""
    async def admin_of(request: Request) -> str | None:
        user = await user_of(request)
        return user if current_role(request) == "admin" else None
    return admin_of


def forbidden(detail: str) -> Response:
    return JSONResponse({"error": "forbidden", "detail": detail}, status_code=403)
