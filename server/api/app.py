"""The review queue over JSON HTTP (Starlette), for the web UI.

Endpoints (all JSON; times are Unix seconds; a frame is the dict :meth:`ReviewQueue.frame` returns):

=======  ==================================  ===============================================================
GET      /api/health                         ``{"ok": true}``
GET      /api/queue?limit=N                  next frames a claim would hand out (not claimed), and counts per status
POST     /api/queue/claim                    body ``{"frame_id"?: int, "lease_seconds"?: number}`` ->
                                             ``{"frame": {...}}``, ``{"frame": null}`` when the queue is empty
GET      /api/frames/{id}                    ``{"frame": {...}}`` with detections, annotations, duplicate, group, events
GET      /api/frames/{id}/image              the JPEG
POST     /api/frames/{id}/renew              body ``{"lease_seconds"?: number}`` -> ``{"frame": {...}}``
POST     /api/frames/{id}/release            -> ``{"released": id}``
POST     /api/frames/{id}/submit             body ``{"decision": "accept"|"correct"|"reject",
                                             "annotations"?: [{"x1","y1","x2","y2","class_name","track_id"?,
                                             "detection_id"?}], "comment"?: str}`` -> ``{"frame": {...}}``
=======  ==================================  ===============================================================

Errors are ``{"error": CODE, "detail": "one line"}`` with 400 ``bad_request``, 401
``not_authenticated``, 404 ``not_found``, 409 ``claim_conflict`` (not yours, expired, not pending),
413 ``too_large`` or 503 ``unavailable`` (the database is busy or failing).

Who is calling is not this module's business: :func:`create_app` takes ``current_user``, a
function of the request that returns the user's name or None (401). Until accounts exist (issue
8), :func:`reviewer_from_header` trusts an ``X-Edgelabel-Reviewer`` header, which is why ``serve``
only offers it behind ``--insecure-http``; an auth layer replaces it with a session lookup.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from server.errors import ClaimError, FrameNotFoundError, StoreError, SubmissionError
from server.review.queue import DEFAULT_LEASE_S, ReviewQueue
from server.store import MEDIA_DIRNAME

REVIEWER_HEADER = "X-Edgelabel-Reviewer"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_USER_CHARS = 64

CurrentUser = Callable[[Request], "str | None | Awaitable[str | None]"]


class ApiError(Exception):
    """An HTTP error answer: status, code and a one-line detail."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def reviewer_from_header(request: Request) -> str | None:
    """The reviewer named by the ``X-Edgelabel-Reviewer`` header (no login: see the module docstring)."""
    name = request.headers.get(REVIEWER_HEADER, "").strip()
    if not name:
        return None
    if len(name) > MAX_USER_CHARS or not name.isprintable():
        raise ApiError(400, "bad_request", f"{REVIEWER_HEADER} must be a printable name of at most {MAX_USER_CHARS} characters")
    return name


def create_app(data_dir: Path, current_user: CurrentUser, lease_seconds: float = DEFAULT_LEASE_S,
               clock: Callable[[], float] = time.time) -> Starlette:
    """The review API over the data directory's database (its schema must be current)."""
    data_dir = Path(data_dir)
    queue = ReviewQueue.open(data_dir, lease_seconds=lease_seconds, clock=clock)
    media_root = data_dir / MEDIA_DIRNAME

    async def user_of(request: Request) -> str:
        user = current_user(request)
        if inspect.isawaitable(user):
            user = await user
        if not user:
            raise ApiError(401, "not_authenticated", f"who is reviewing? (send the {REVIEWER_HEADER} header)")
        return user

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def next_frames(request: Request) -> Response:
        limit = _int_param(request.query_params.get("limit", "10"), "limit")
        await user_of(request)
        frames = await run_in_threadpool(queue.next, limit)
        counts = await run_in_threadpool(queue.counts)
        return JSONResponse({"frames": frames, "counts": counts})

    async def claim(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, allowed={"frame_id", "lease_seconds"})
        frame_id = body.get("frame_id")
        if frame_id is not None and not _is_int(frame_id):
            raise ApiError(400, "bad_request", f"'frame_id' must be an integer, got {frame_id!r}")
        frame = await run_in_threadpool(queue.claim, user, frame_id, body.get("lease_seconds"))
        return JSONResponse({"frame": frame})

    async def frame(request: Request) -> Response:
        await user_of(request)
        return JSONResponse({"frame": await run_in_threadpool(queue.frame, request.path_params["frame_id"])})

    async def image(request: Request) -> Response:
        await user_of(request)
        path = await run_in_threadpool(queue.media_path, request.path_params["frame_id"], media_root)
        if not path.is_file():
            raise ApiError(404, "not_found", f"the image of frame {request.path_params['frame_id']} is missing")
        return FileResponse(path, media_type="image/jpeg")

    async def renew(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, allowed={"lease_seconds"})
        frame = await run_in_threadpool(queue.renew, user, request.path_params["frame_id"], body.get("lease_seconds"))
        return JSONResponse({"frame": frame})

    async def release(request: Request) -> Response:
        user = await user_of(request)
        await _json_body(request, allowed=set())
        await run_in_threadpool(queue.release, user, request.path_params["frame_id"])
        return JSONResponse({"released": request.path_params["frame_id"]})

    async def submit(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, allowed={"decision", "annotations", "comment"})
        frame = await run_in_threadpool(
            queue.submit, user, request.path_params["frame_id"], body.get("decision"), body.get("annotations"),
            body.get("comment"),
        )
        return JSONResponse({"frame": frame})

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        queue.close()

    app = Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/api/queue", next_frames, methods=["GET"]),
            Route("/api/queue/claim", claim, methods=["POST"]),
            Route("/api/frames/{frame_id:int}", frame, methods=["GET"]),
            Route("/api/frames/{frame_id:int}/image", image, methods=["GET"]),
            Route("/api/frames/{frame_id:int}/renew", renew, methods=["POST"]),
            Route("/api/frames/{frame_id:int}/release", release, methods=["POST"]),
            Route("/api/frames/{frame_id:int}/submit", submit, methods=["POST"]),
        ],
        exception_handlers={
            ApiError: _api_error, FrameNotFoundError: _not_found, ClaimError: _claim_conflict,
            SubmissionError: _bad_request, StoreError: _unavailable,
        },
        lifespan=lifespan,
    )
    app.state.queue = queue
    return app


async def _json_body(request: Request, allowed: set[str]) -> dict:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "bad_request", f"body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "bad_request", f"unknown fields {', '.join(unknown)}; expected {', '.join(sorted(allowed)) or 'none'}")
    return body


def _int_param(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"'{name}' must be an integer, got {value!r}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail.splitlines()[0] if detail else code}, status_code=status)


async def _api_error(request: Request, exc: ApiError) -> Response:
    return _error(exc.status, exc.code, exc.detail)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "not_found", str(exc))


async def _claim_conflict(request: Request, exc: Exception) -> Response:
    return _error(409, "claim_conflict", str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(400, "bad_request", str(exc))


async def _unavailable(request: Request, exc: Exception) -> Response:
    return _error(503, "unavailable", str(exc))
