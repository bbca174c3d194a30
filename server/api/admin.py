"""What the admin-only JSON routes share: who is calling and whether that account is an admin.

The check is made per route against the caller's account role (the login middleware only knows
someone is logged in), so a reviewer gets a 403 with a JSON error, not a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.consistency.store import role_of
from server.review.queue import ReviewQueue

UserOf = Callable[[Request], Awaitable[str]]
"""The logged-in caller's account name (raises when nobody is logged in)."""
JsonBody = Callable[[Request, set], Awaitable[dict]]
"""A request's JSON object body, checked against the allowed keys."""
AdminOf = Callable[[Request], Awaitable["str | None"]]


def admin_check(queue: ReviewQueue, user_of: UserOf) -> AdminOf:
    """A function of a request: the caller's name when the account is an admin, else None."""
    async def admin_of(request: Request) -> str | None:
        user = await user_of(request)
        with queue.read_transaction() as conn:
            role = role_of(conn, user)
        return user if role == "admin" else None
    return admin_of


def forbidden(detail: str) -> Response:
    return JSONResponse({"error": "forbidden", "detail": detail}, status_code=403)
