"""The review queue over JSON HTTP (Starlette), for the web UI.

Endpoints (all JSON; times are Unix seconds; a frame is the dict :meth:`ReviewQueue.frame` returns):

=======  ==================================  ===============================================================
GET      /api/health                         ``{"ok": true}``
GET      /api/queue?limit=N                  next frames a claim would hand out (not claimed), and counts per status
POST     /api/queue/claim                    body ``{"frame_id"?: int, "lease_seconds"?: number, "skip"?: [int]}``
                                             -> ``{"frame": {...}}``, ``{"frame": null}`` when the queue is empty;
                                             ``skip``: frames this reviewer skipped, not handed out again
GET      /api/frames/{id}                    ``{"frame": {...}}`` with detections, annotations, duplicate, group,
                                             events, and ``verdicts``/``context``/``class_names`` (server.review.track_verdicts)
GET      /media/{sha256}                     a JPEG by content id (64 hex digits, nothing else reaches the disk)
GET      /api/track?device=D&track_id=N      a track's frames as a strip, with its verdict
POST     /api/track/accept                   body ``{"device", "track_id", "class_name"?}``: accept the whole track
GET      /api/dashboard                      the dashboard's numbers (server.stats); admins only
GET      /api/frames/{id}/image              the JPEG
POST     /api/frames/{id}/renew              body ``{"lease_seconds"?: number}`` -> ``{"frame": {...}}``
POST     /api/frames/{id}/release            -> ``{"released": id}``
POST     /api/frames/{id}/submit             body ``{"decision": "accept"|"correct"|"reject",
                                             "annotations"?: [{"x1","y1","x2","y2","class_name","track_id"?,
                                             "detection_id"?}], "comment"?: str}`` -> ``{"frame": {...}}``
...      /api/taxonomy...                    the class taxonomy: read by all, changed by admins (server.api.taxonomy)
...      /api/consistency..., /api/adjudication..., /api/gold/{id}: admins only (server.api.consistency)
GET      /api/frames?device=...&class=...    the frame browser's list, and /api/frames/choices: admins only
                                             (server.api.frame_browser)
=======  ==================================  ===============================================================

Errors are ``{"error": CODE, "detail": "one line"}`` with 400 ``bad_request``, 401
``not_authenticated``, 403 ``forbidden`` (an admin's route), 404 ``not_found``, 409
``claim_conflict`` (not yours, expired, not pending), 413 ``too_large`` or 503 ``unavailable`` (the database is busy or failing).
A body that does not fit its declaration in :mod:`server.api.bodies` (a wrong type, an unknown
or missing field) is a 400 whose detail names the field.

Who is calling is not this module's business: :func:`api_routes` takes ``current_user``, a
function of the request that returns the user's name or None (401), and ``current_role``, the
caller's role (admin routes answer 403 unless it is ``admin``). The site (:mod:`server.web.site`)
passes the session's account and role, found by :mod:`server.auth.middleware`, which also checks
the CSRF token of every state change. Handlers run no SQL: they call the review queue, the frame
state's owners and the query modules.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from edge.contract.config_files import SettingError, from_plain
from server.api.admin import CurrentRole, admin_check, no_role
from server.api.bodies import ClaimBody, NoBody, RenewBody, SubmitBody, TrackAcceptBody
from server.api.consistency import consistency_routes
from server.api.frame_browser import frame_browser_routes
from server.api.taxonomy import taxonomy_routes
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database, open_database
from server.errors import ClaimError, FrameNotFoundError, StoreError, SubmissionError
from server.media import MEDIA_DIRNAME, MediaBackend, MediaMissingError, MediaStore
from server.review.browse import FrameFilterError
from server.review.queue import DEFAULT_LEASE_S, ReviewQueue
from server.review.track_verdicts import accept_track, frame_extras, track_strip
from server.stats import dashboard_data
from server.taxonomy.model import TaxonomyError, UnknownClassError

MAX_BODY_BYTES = 4 * 1024 * 1024
CLAIM_ATTEMPTS = 5

Body = TypeVar("Body")
CurrentUser = Callable[[Request], "str | None | Awaitable[str | None]"]


class ApiError(Exception):
    """An HTTP error answer: status, code and a one-line detail."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class ApiParts:
    """The API's routes, error handlers and its review queue."""

    routes: list[BaseRoute]
    exception_handlers: dict
    queue: ReviewQueue


def api_routes(db: Database, data_dir: Path, current_user: CurrentUser, current_role: CurrentRole = no_role,
               lease_seconds: float = DEFAULT_LEASE_S, clock: Callable[[], float] = time.time,
               consistency_policy: ConsistencyPolicy | None = None, media: MediaBackend | None = None) -> ApiParts:
    """The review API over ``db`` (the data directory's database, its schema current) and its media.

    ``consistency_policy``: overlap reviews and gold frames; None (the default) serves neither.
    ``media``: the media store (``serve --media``); None means the data directory's ``media/``.
    """
    queue = ReviewQueue(db, lease_seconds=lease_seconds, clock=clock,
                        consistency_policy=consistency_policy or ConsistencyPolicy.off())
    media = media if media is not None else MediaStore(Path(data_dir) / MEDIA_DIRNAME)

    async def user_of(request: Request) -> str:
        user = current_user(request)
        if inspect.isawaitable(user):
            user = await user
        if not user:
            raise ApiError(401, "not_authenticated", "log in first")
        return user

    async def health(request: Request) -> Response:
        await user_of(request)
        return JSONResponse({"ok": True})

    async def next_frames(request: Request) -> Response:
        limit = _int_param(request.query_params.get("limit", "10"), "limit")
        await user_of(request)
        frames = await run_in_threadpool(queue.next, limit)
        counts = await run_in_threadpool(queue.counts)
        return JSONResponse({"frames": frames, "counts": counts})

    async def claim(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, ClaimBody)
        if body.frame_id is not None or not body.skip:
            frame = await run_in_threadpool(queue.claim, user, body.frame_id, body.lease_seconds)
        else:
            frame = await run_in_threadpool(_claim_next_not_skipped, queue, user, set(body.skip), body.lease_seconds)
        return JSONResponse({"frame": await _with_extras(frame)})

    async def _with_extras(frame: dict | None) -> dict | None:
        if frame is None:
            return None
        return {**frame, **await run_in_threadpool(frame_extras, db, frame)}

    async def frame(request: Request) -> Response:
        details = await run_in_threadpool(queue.frame, request.path_params["frame_id"], await user_of(request))
        return JSONResponse({"frame": await _with_extras(details)})

    async def image(request: Request) -> Response:
        await user_of(request)
        sha256 = await run_in_threadpool(queue.media_sha256, request.path_params["frame_id"])
        return await _jpeg(media, sha256, f"the image of frame {request.path_params['frame_id']} is missing")

    async def media_file(request: Request) -> Response:
        await user_of(request)
        try:
            path = media.local_path(request.path_params["sha256"])
        except StoreError:
            raise ApiError(404, "not_found", "no such media id") from None
        return await _jpeg(media, request.path_params["sha256"], "no such media id", path)

    async def renew(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, RenewBody)
        frame = await run_in_threadpool(queue.renew, user, request.path_params["frame_id"], body.lease_seconds)
        return JSONResponse({"frame": frame})

    async def release(request: Request) -> Response:
        user = await user_of(request)
        await _json_body(request, NoBody)
        await run_in_threadpool(queue.release, user, request.path_params["frame_id"])
        return JSONResponse({"released": request.path_params["frame_id"]})

    async def submit(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, SubmitBody)
        frame = await run_in_threadpool(
            queue.submit, user, request.path_params["frame_id"], body.decision, body.boxes(), body.comment)
        return JSONResponse({"frame": frame})

    async def track(request: Request) -> Response:
        await user_of(request)
        device, track_id = _track_params(request.query_params.get("device"), request.query_params.get("track_id"))
        return JSONResponse(await run_in_threadpool(track_strip, db, device, track_id))

    async def track_accept(request: Request) -> Response:
        user = await user_of(request)
        body = await _json_body(request, TrackAcceptBody)
        return JSONResponse(await run_in_threadpool(
            accept_track, db, user, body.device, body.track_id, body.class_name))

    async def dashboard(request: Request) -> Response:
        await user_of(request)
        return JSONResponse(await run_in_threadpool(dashboard_data, db, clock()))

    routes: list[BaseRoute] = [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/queue", next_frames, methods=["GET"]),
        Route("/api/queue/claim", claim, methods=["POST"]),
        Route("/api/frames/{frame_id:int}", frame, methods=["GET"]),
        Route("/api/frames/{frame_id:int}/image", image, methods=["GET"]),
        Route("/api/frames/{frame_id:int}/renew", renew, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/release", release, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/submit", submit, methods=["POST"]),
        Route("/api/track", track, methods=["GET"]),
        Route("/api/track/accept", track_accept, methods=["POST"]),
        Route("/api/dashboard", dashboard, methods=["GET"]),
        Route("/media/{sha256}", media_file, methods=["GET"]),
        *consistency_routes(queue, admin_check(user_of, current_role), _json_body),
        *frame_browser_routes(queue, admin_check(user_of, current_role)),
        *taxonomy_routes(queue, media, user_of, admin_check(user_of, current_role), _json_body),
    ]
    handlers = {
        ApiError: _api_error, FrameNotFoundError: _not_found, ClaimError: _claim_conflict,
        SubmissionError: _bad_request, StoreError: _unavailable, TaxonomyError: _bad_request,
        UnknownClassError: _not_found, FrameFilterError: _bad_request,
    }
    return ApiParts(routes, handlers, queue)


def create_app(data_dir: Path, current_user: CurrentUser, current_role: CurrentRole = no_role,
               lease_seconds: float = DEFAULT_LEASE_S, clock: Callable[[], float] = time.time) -> Starlette:
    """The bare JSON API (no pages, no login layer) on a database of its own: for embedding behind
    another auth layer, which passes the caller's name and role."""
    db = open_database(Path(data_dir), "current")
    parts = api_routes(db, data_dir, current_user, current_role, lease_seconds, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        db.close()

    app = Starlette(routes=parts.routes, exception_handlers=parts.exception_handlers, lifespan=lifespan)
    app.state.queue = parts.queue
    return app


def _claim_next_not_skipped(queue: ReviewQueue, user: str, skip: set[int], lease: float | None) -> dict | None:
    """Claim the first queued frame not in ``skip``; retried when another reviewer takes it first."""
    for _ in range(CLAIM_ATTEMPTS):
        candidates = [f["id"] for f in queue.next(min(1000, len(skip) + 10), user) if f["id"] not in skip]
        if not candidates:
            return None
        try:
            return queue.claim(user, candidates[0], lease)
        except ClaimError:
            continue
    raise ClaimError("the queue is busy: every frame tried was claimed by someone else, try again")


_IMMUTABLE = {"cache-control": "private, max-age=31536000, immutable"}  # content-addressed: bytes never change


async def _jpeg(media: MediaBackend, sha256: str, missing: str, path: Path | None = None) -> Response:
    """The stored JPEG: its file from a local folder, else its bytes streamed from the object store."""
    path = path or media.local_path(sha256)
    if path is not None:
        if not path.is_file():
            raise ApiError(404, "not_found", missing)
        return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)
    try:
        chunks = await run_in_threadpool(media.stream, sha256)  # opened first, so a missing object is a 404
    except MediaMissingError:
        raise ApiError(404, "not_found", missing) from None
    return StreamingResponse(chunks, media_type="image/jpeg", headers=_IMMUTABLE)


def _track_params(device: str | None, track_id: str | None) -> tuple[str, int]:
    if not device or track_id is None:
        raise ApiError(400, "bad_request", "expected ?device=NAME&track_id=N")
    return device, _int_param(track_id, "track_id")


async def _json_body(request: Request, body_type: type[Body]) -> Body:
    """The request's JSON body as a ``body_type`` (a dataclass of :mod:`server.api.bodies`); 400 or 413."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    # Counted while it arrives: a chunked body has no Content-Length to check first.
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    body = {}
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ApiError(400, "bad_request", f"body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    try:
        return from_plain(body_type, body, "the body")
    except SettingError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


def _int_param(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"'{name}' must be an integer, got {value!r}") from None


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
