"""Whole-track verification: a track's keyframes as a strip, and one verdict for all its boxes.

A track is (device, track id): the edge's tracker numbers tracks per device. A verdict says the
track's boxes are right, with the model's class or one fixed class (``track_verdicts``). Accepting
a track finalises every queued frame it appears in (``pending``, or claimed by the same reviewer)
whose boxes all have a verdict: annotations are written (``source = 'model'`` where the class
stayed, ``human`` where it was fixed) and the frame becomes ``accepted`` or ``corrected``. A frame
with other, unverified boxes stays queued; the review screen shows it with this track's boxes
already verified (see ``verdicts`` in :func:`frame_extras`).

Class names are the project's (:mod:`server.taxonomy`): the model's classes as they map, a fixed
class as it resolves (an alias becomes its class). The frames' new state is written by
:mod:`server.frames.state`.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import Connection, text

from edge.contract.limits import MAX_NAME_CHARS
from server.db import Database
from server.errors import FrameNotFoundError, SubmissionError
from server.frames import state
from server.frames.state import Annotation
from server.review import best_views
from server.taxonomy import queries as taxonomy_queries

MAX_STRIP_FRAMES = 500


def track_strip(db: Database, device: str, track_id: int) -> dict:
    """The track's frames in capture order, each with the track's box, and its verdict."""
    with db.read("read the track") as conn:
        rows = conn.execute(text(
            "SELECT f.id, f.status, f.capture_ts, f.media_sha256, f.width, f.height, f.claimed_by,"
            " d.id, d.x1, d.y1, d.x2, d.y2, d.score, d.class_name, f.model_id"
            " FROM detections d JOIN frames f ON f.id = d.frame_id"
            " WHERE f.device = :device AND d.track_id = :track_id ORDER BY f.capture_ts, f.id LIMIT :limit"),
            {"device": device, "track_id": track_id, "limit": MAX_STRIP_FRAMES}).all()
        verdict = _verdict(conn, device, track_id)
        taxonomy = taxonomy_queries.load(conn)
        best = best_views.best_frame(conn, device, track_id)
    if not rows:
        raise FrameNotFoundError(f"no track {track_id} of device {device!r}")
    frames = [
        {"frame_id": r[0], "status": r[1], "capture_ts": r[2], "media": r[3], "width": r[4], "height": r[5],
         "claimed_by": r[6], "detection_id": r[7], "box": list(r[8:12]), "score": r[12],
         "class_name": taxonomy.project_class(r[14], r[13])[0]}
        for r in rows
    ]
    classes = sorted({f["class_name"] for f in frames})
    return {"device": device, "track_id": track_id, "frames": frames, "classes": classes, "verdict": verdict,
            "class_choices": taxonomy.class_names() or classes,
            # The frame the strip opens on: the track's largest view (the first frame if past the strip's limit).
            "best_frame_id": best if any(f["frame_id"] == best for f in frames) else frames[0]["frame_id"]}


def accept_track(db: Database, user: str, device: str, track_id: int, class_name: str | None) -> dict:
    """Record the verdict and finalise the queued frames it completes; which frames were finalised."""
    if class_name is not None and not (isinstance(class_name, str) and 0 < len(class_name) <= MAX_NAME_CHARS
                                       and class_name.isprintable()):
        raise SubmissionError(f"class_name must be a printable string of 1..{MAX_NAME_CHARS} characters")
    with db.write("accept the track") as conn:
        now = time.time()
        if class_name is not None:
            class_name = taxonomy_queries.load(conn).submitted_class(class_name)
        frame_ids = list(conn.execute(text(
            "SELECT DISTINCT f.id FROM detections d JOIN frames f ON f.id = d.frame_id"
            " WHERE f.device = :device AND d.track_id = :track_id"
            " AND (f.status = 'pending' OR (f.status = 'in_review' AND f.claimed_by = :user)) ORDER BY f.id"),
            {"device": device, "track_id": track_id, "user": user}).scalars())
        if not frame_ids and not conn.execute(text(
                "SELECT 1 FROM detections d JOIN frames f ON f.id = d.frame_id"
                " WHERE f.device = :device AND d.track_id = :track_id"),
                {"device": device, "track_id": track_id}).first():
            raise FrameNotFoundError(f"no track {track_id} of device {device!r}")
        conn.execute(text(
            "INSERT INTO track_verdicts (device, track_id, class_name, \"user\", at)"
            " VALUES (:device, :track_id, :class_name, :user, :now)"
            " ON CONFLICT (device, track_id) DO UPDATE SET class_name = excluded.class_name, \"user\" = excluded.\"user\","
            " at = excluded.at"),
            {"device": device, "track_id": track_id, "class_name": class_name, "user": user, "now": now})
        finalised, waiting = [], []
        for frame_id in frame_ids:
            status = _finalise_if_complete(conn, frame_id, device, user, now, track_id)
            (finalised if status else waiting).append(frame_id)
    return {"device": device, "track_id": track_id, "class_name": class_name, "finalised": finalised,
            "waiting": waiting}


def frame_extras(db: Database, frame: dict) -> dict:
    """What the review screen adds to a frame: verdicts of its tracks, the previous frame of each
    of its tracks (context), and the classes a reviewer picks from (the taxonomy's, or without
    one the model's class names)."""
    track_ids = sorted({d["track_id"] for d in frame["detections"] if d["track_id"] is not None})
    with db.read("read the frame's tracks") as conn:
        taxonomy = taxonomy_queries.load(conn)
        verdicts = {str(t): v for t in track_ids if (v := _verdict(conn, frame["device"], t)) is not None}
        context = {}
        for track_id in track_ids:
            row = conn.execute(text(
                "SELECT f.id, f.media_sha256, f.width, f.height, d.x1, d.y1, d.x2, d.y2, d.class_name, f.model_id"
                " FROM detections d JOIN frames f ON f.id = d.frame_id"
                " WHERE f.device = :device AND d.track_id = :track_id AND (f.capture_ts < :ts"
                " OR (f.capture_ts = :ts AND f.id < :id))"
                " ORDER BY f.capture_ts DESC, f.id DESC LIMIT 1"),
                {"device": frame["device"], "track_id": track_id, "ts": frame["capture_ts"], "id": frame["id"]}).first()
            if row is not None:
                context[str(track_id)] = {"frame_id": row[0], "media": row[1], "width": row[2], "height": row[3],
                                          "box": list(row[4:8]),
                                          "class_name": taxonomy.project_class(row[9], row[8])[0]}
        names = conn.execute(text("SELECT class_names FROM models WHERE id = :id"), {"id": frame["model_id"]}).scalar()
        seen = [] if not taxonomy.empty else [name for name, in conn.execute(_SEEN_MOST, {"device": frame["device"]})]
    # The review screen's keys 1-9 pick the first nine: the project's classes in its order, else the
    # classes this camera's recent frames show most (not COCO's airplane, train and boat).
    class_names = taxonomy.class_names() or list(dict.fromkeys([*seen, *(json.loads(names) if names else [])]))
    return {"verdicts": verdicts, "context": context, "class_names": class_names}


RECENT_FRAMES = 500
"""How many of a camera's latest frames rank its classes for the keyboard shortcuts."""
_SEEN_MOST = text(
    "SELECT class_name FROM detections WHERE frame_id IN"
    f" (SELECT id FROM frames WHERE device = :device ORDER BY id DESC LIMIT {RECENT_FRAMES})"
    " GROUP BY class_name ORDER BY COUNT(*) DESC, class_name")


def _verdict(conn: Connection, device: str, track_id: int) -> dict | None:
    row = conn.execute(text("SELECT class_name, \"user\", at FROM track_verdicts WHERE device = :device"
                            " AND track_id = :track_id"), {"device": device, "track_id": track_id}).first()
    return None if row is None else {"class_name": row[0], "user": row[1], "at": row[2]}


def _finalise_if_complete(conn: Connection, frame_id: int, device: str, user: str, now: float,
                          track_id: int) -> str | None:
    """Write the frame's annotations from verdicts if every box has one; its new status, else None."""
    verdicts = dict(conn.execute(text(
        "SELECT d.id, v.class_name FROM detections d"
        " JOIN track_verdicts v ON v.device = :device AND v.track_id = d.track_id WHERE d.frame_id = :id"),
        {"device": device, "id": frame_id}).all())
    detections = taxonomy_queries.detections_of(conn, frame_id)
    if not all(d["id"] in verdicts for d in detections):
        return None
    boxes = []
    for d in detections:
        class_name = verdicts[d["id"]] or d["class_name"]  # the fixed class, else the model's as it maps
        source = "model" if class_name == d["class_name"] else "human"
        boxes.append(Annotation(d["x1"], d["y1"], d["x2"], d["y2"], class_name, d["track_id"], source, d["id"]))
    return state.accept_track_frame(conn, frame_id, user, boxes, track_id, now)
