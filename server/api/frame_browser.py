"""The admin's frame browser over JSON (admins only; the page is ``/frames``).

=======  ==================================  ===============================================================
GET      /api/frames?device=&since=&until=   ``{"frames": [...], "total", "limit", "offset"}``: frames newest
         &status=&class=&limit=&offset=      capture first; ``since``/``until`` capture time in Unix seconds,
                                             ``status`` a frame status or ``queued``/``verified``, ``class``
                                             frames with a box of it, ``limit`` 1..200 (default 50)
GET      /api/frames/choices                 ``{"devices", "statuses", "classes"}``: what the filters offer
=======  ==================================  ===============================================================

A filter out of its range, a number that is not one, or an unknown parameter is a 400
``bad_request`` naming it; an empty value leaves its filter out (as a form sends it). The query
is :mod:`server.review.browse`'s.
"""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.admin import AdminOf, forbidden
from server.review import browse
from server.review.browse import FrameFilter, FrameFilterError
from server.review.queue import ReviewQueue

PARAMETERS = ("device", "since", "until", "status", "class", "limit", "offset")
DEFAULT_PAGE_SIZE = 50


def frame_browser_routes(queue: ReviewQueue, admin_of: AdminOf) -> list[BaseRoute]:
    async def list_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden("only admins may browse frames")
        filters, limit, offset = parse_query(request.query_params.multi_items())

        def work():
            with queue.read_transaction() as conn:
                return browse.browse(conn, filters, limit, offset)
        return JSONResponse(await run_in_threadpool(work))

    async def choices_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden("only admins may browse frames")

        def work():
            with queue.read_transaction() as conn:
                return browse.choices(conn)
        return JSONResponse(await run_in_threadpool(work))

    return [
        Route("/api/frames", list_route, methods=["GET"]),
        Route("/api/frames/choices", choices_route, methods=["GET"]),
    ]


def parse_query(items: list[tuple[str, str]]) -> tuple[FrameFilter, int, int]:
    """The filters, page size and offset a query string's (name, value) pairs ask for; FrameFilterError
    names what is wrong."""
    names = [name for name, _ in items]
    unknown = sorted(set(names) - set(PARAMETERS))
    if unknown:
        raise FrameFilterError(f"unknown parameter {unknown[0]!r:.40}; expected {', '.join(PARAMETERS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FrameFilterError(f"'{repeated[0]}' given more than once")
    given = {name: value for name, value in items if value != ""}
    filters = FrameFilter(device=given.get("device"), since=_number(given, "since"), until=_number(given, "until"),
                          status=given.get("status"), class_name=given.get("class"))
    limit = _integer(given, "limit", DEFAULT_PAGE_SIZE)
    offset = _integer(given, "offset", 0)
    browse.check_page(limit, offset)
    return filters, limit, offset


def _number(values: dict[str, str], name: str) -> float | None:
    if name not in values:
        return None
    try:
        number = float(values[name])
    except ValueError:
        number = math.nan
    if not math.isfinite(number):  # float() takes "nan", "inf" and "1e999" too
        raise FrameFilterError(f"'{name}' must be a finite number of Unix seconds, got {values[name]!r:.40}")
    return number


def _integer(values: dict[str, str], name: str, default: int) -> int:
    if name not in values:
        return default
    text = values[name].strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 12:
        raise FrameFilterError(f"'{name}' must be a whole number, got {values[name]!r:.40}")
    return int(text)
