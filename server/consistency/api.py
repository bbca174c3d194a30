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
route; the admin check is made here, against the caller's account role, so a reviewer gets 403.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.admin import JsonBody, UserOf, admin_check
from server.api.admin import forbidden as forbidden_response
from server.consistency import store as consistency
from server.consistency.agreement import Tally, per_class, per_reviewer
from server.review.queue import ReviewQueue

def consistency_routes(queue: ReviewQueue, user_of: UserOf, json_body: JsonBody) -> list[BaseRoute]:
    admin_of = admin_check(queue, user_of)

    def forbidden() -> Response:
        return forbidden_response("only admins may do this")

    async def summary_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()
        since = _float_param(request, "since")
        until = _float_param(request, "until")
        if isinstance(since, Response) or isinstance(until, Response):
            return since if isinstance(since, Response) else until
        return JSONResponse(await run_in_threadpool(summary, queue, since, until))

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
        body = await json_body(request, {"decision", "annotations"})
        frame_id = request.path_params["frame_id"]

        def work():
            with queue.write_transaction() as (conn, now):
                consistency.adjudicate(conn, admin, frame_id, body.get("decision"), body.get("annotations"), now)
        await run_in_threadpool(work)
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
        await json_body(request, set())
        frame_id = request.path_params["frame_id"]

        def work():
            with queue.write_transaction() as (conn, now):
                return consistency.mark_gold(conn, admin, frame_id, now)
        return JSONResponse({"gold": await run_in_threadpool(work)})

    return [
        Route("/api/consistency/summary", summary_route, methods=["GET"]),
        Route("/api/consistency/frames", frames_route, methods=["GET"]),
        Route("/api/consistency/frames/{frame_id:int}", frame_route, methods=["GET"]),
        Route("/api/adjudication", list_route, methods=["GET"]),
        Route("/api/adjudication/{frame_id:int}", get_route, methods=["GET"]),
        Route("/api/adjudication/{frame_id:int}", decide_route, methods=["POST"]),
        Route("/api/gold/{frame_id:int}", gold_route, methods=["POST"]),
    ]


def summary(queue: ReviewQueue, since: float | None = None, until: float | None = None) -> dict:
    """Agreement per reviewer (overall and per UTC day of the second review) and per class over
    overlap pairs, gold accuracy per reviewer."""
    with queue.read_transaction() as conn:
        pairs = consistency.pair_results(conn, since, until)
        completed = consistency.pair_times(conn, since, until)
        gold = consistency.gold_results(conn, since, until)
        open_ids = [a["frame_id"] for a in consistency.open_adjudications(conn)]
    by_day: dict[str, dict[str, Tally]] = {}
    for frame_id, reviewer_a, reviewer_b, result in pairs:
        day = time.strftime("%Y-%m-%d", time.gmtime(completed[frame_id]))
        for reviewer in dict.fromkeys((reviewer_a, reviewer_b)):
            by_day.setdefault(reviewer, {}).setdefault(day, Tally()).add(frame_id, result)
    gold_tallies: dict[str, Tally] = {}
    for frame_id, reviewer, result in gold:
        gold_tallies.setdefault(reviewer, Tally()).add(frame_id, result)
    policy = queue.consistency
    return {
        "window": {"since": since, "until": until},
        "policy": {"overlap_rate": policy.overlap_rate, "gold_rate": policy.gold_rate,
                   "agreement_threshold": policy.agreement_threshold},
        "pairs": [{"frame_id": f, "first_reviewer": a, "second_reviewer": b, **r.as_dict()} for f, a, b, r in pairs],
        "per_reviewer": per_reviewer(pairs),
        "per_reviewer_by_day": {reviewer: {day: tally.as_dict() for day, tally in sorted(days.items())}
                                for reviewer, days in sorted(by_day.items())},
        "per_class": per_class((f, r) for f, _, _, r in pairs),
        "gold_per_reviewer": {name: t.as_dict() for name, t in sorted(gold_tallies.items())},
        "open_adjudications": open_ids,
    }


def _float_param(request: Request, name: str) -> float | None | Response:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return JSONResponse({"error": "bad_request", "detail": f"'{name}' must be a number, got {value!r}"},
                            status_code=400)
