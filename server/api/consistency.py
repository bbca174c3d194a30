"""The consistency routes of the JSON API; every one is for admins only.

=======  ==================================  ===============================================================
GET      /api/consistency/summary            ``?since=&until=`` (Unix seconds, on the later review): agreement
                                             per reviewer, per reviewer and UTC day, and per class over overlap
                                             pairs, gold accuracy per reviewer, each with the ``frame_ids``
                                             behind it (``frames_with`` per figure); ``policy``
GET      /api/consistency/frames?ids=1,2     ``{"frames": [...]}``: a short row per frame (status, image, counts)
GET      /api/consistency/frames/{id}        ``{"consistency": {...}}``: a frame's reviews, overlap pair,
                                             adjudication and gold snapshot
GET      /api/adjudication                   ``{"adjudications": [...]}``: open disagreements, oldest first
GET      /api/adjudication/{id}              ``{"adjudication": {...}, "frame": {...}}`` with both reviews and
                                             their agreement
POST     /api/adjudication/{id}              body ``{"decision": "accept"|"correct"|"reject", "annotations"?}``:
                                             the admin's labels become the frame's annotations
POST     /api/gold/{id}                      mark a verified frame gold -> ``{"gold": {...}}``
=======  ==================================  ===============================================================

Authentication and CSRF are the site's middleware's (:mod:`server.auth.middleware`), as for every
route; the admin check is made here, against the caller's session role, so a reviewer gets 403.
The figures come from :mod:`server.consistency.summary`, decisions go through the review queue.
"""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.admin import AdminOf, JsonBody
from server.api.admin import forbidden as forbidden_response
from server.api.bodies import DecisionBody, NoBody
from server.consistency import reviews as consistency
from server.consistency.summary import summary
from server.review.queue import ReviewQueue


def consistency_routes(queue: ReviewQueue, admin_of: AdminOf, json_body: JsonBody) -> list[BaseRoute]:
    def forbidden() -> Response:
        return forbidden_response("only admins may do this")

    async def summary_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()
        since = _float_param(request, "since")
        until = _float_param(request, "until")
        if isinstance(since, Response) or isinstance(until, Response):
            return since if isinstance(since, Response) else until
        return JSONResponse(await run_in_threadpool(summary, queue.db, queue.consistency, since, until))

    async def list_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()

        def work():
            with queue.read_transaction() as conn:
                return consistency.open_adjudications(conn)
        return JSONResponse({"adjudications": await run_in_threadpool(work)})

    async def get_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()
        frame_id = request.path_params["frame_id"]

        def work():
            with queue.read_transaction() as conn:
                return consistency.adjudication(conn, frame_id)
        found = await run_in_threadpool(work)
        return JSONResponse({"adjudication": found, "frame": await run_in_threadpool(queue.frame, frame_id)})

    async def decide_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        body = await json_body(request, DecisionBody)
        frame_id = request.path_params["frame_id"]

        await run_in_threadpool(queue.adjudicate, admin, frame_id, body.decision, body.boxes())
        return JSONResponse({"frame": await run_in_threadpool(queue.frame, frame_id)})

    async def frames_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()
        raw = request.query_params.get("ids", "")
        try:
            frame_ids = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            return JSONResponse({"error": "bad_request", "detail": f"'ids' must be frame ids separated by commas, "
                                 f"got {raw!r:.80}"}, status_code=400)

        def work():
            with queue.read_transaction() as conn:
                return consistency.frame_rows(conn, frame_ids)
        return JSONResponse({"frames": await run_in_threadpool(work)})

    async def frame_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()

        def work():
            with queue.read_transaction() as conn:
                return consistency.frame_consistency(conn, request.path_params["frame_id"])
        return JSONResponse({"consistency": await run_in_threadpool(work)})

    async def gold_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        await json_body(request, NoBody)
        frame_id = request.path_params["frame_id"]

        return JSONResponse({"gold": await run_in_threadpool(queue.mark_gold, admin, frame_id)})

    return [
        Route("/api/consistency/summary", summary_route, methods=["GET"]),
        Route("/api/consistency/frames", frames_route, methods=["GET"]),
        Route("/api/consistency/frames/{frame_id:int}", frame_route, methods=["GET"]),
        Route("/api/adjudication", list_route, methods=["GET"]),
        Route("/api/adjudication/{frame_id:int}", get_route, methods=["GET"]),
        Route("/api/adjudication/{frame_id:int}", decide_route, methods=["POST"]),
        Route("/api/gold/{frame_id:int}", gold_route, methods=["POST"]),
    ]


def _float_param(request: Request, name: str) -> float | None | Response:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):  # float() takes "nan", "inf" and "1e999" (inf) too
        return JSONResponse({"error": "bad_request", "detail": f"'{name}' must be a finite number, got {value!r:.40}"},
                            status_code=400)
    return number
