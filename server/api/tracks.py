"""Whole-track verification: a track's keyframes as a strip, and one verdict for all its boxes.

A track is (device, track id): the edge's tracker numbers tracks per device. A verdict says the
track's boxes are right, with the model's class or one fixed class (``track_verdicts``). Accepting
a track finalises every queued frame it appears in (``pending``, or claimed by the same reviewer)
whose boxes all have a verdict: annotations are written (``source = 'model'`` where the class
stayed, ``human`` where it was fixed) and the frame becomes ``accepted`` or ``corrected``. A frame
with other, unverified boxes stays queued; the review screen shows it with this track's boxes
already verified (see ``verdicts`` in :func:`frame_extras`).

Class names are the project's (:mod:`server.taxonomy`): the model's classes as they map, a fixed
class as it resolves (an alias becomes its class).
"""

from __future__ import annotations

import json
import sqlite3
import time

from edge.contract.limits import MAX_NAME_CHARS
from server.api.database import WebDatabase
from server.errors import FrameNotFoundError, SubmissionError
from server.taxonomy import store as taxonomy_store

MAX_STRIP_FRAMES = 500


def track_strip(db: WebDatabase, device: str, track_id: int) -> dict:
    """The track's frames in capture order, each with the track's box, and its verdict."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT f.id, f.status, f.capture_ts, f.media_sha256, f.width, f.height, f.claimed_by,"
            " d.id, d.x1, d.y1, d.x2, d.y2, d.score, d.class_name, f.model_id"
            " FROM detections d JOIN frames f ON f.id = d.frame_id"
            " WHERE f.device = ? AND d.track_id = ? ORDER BY f.capture_ts, f.id LIMIT ?",
            [device, track_id, MAX_STRIP_FRAMES]).fetchall()
        verdict = _verdict(conn, device, track_id)
        taxonomy = taxonomy_store.load(conn)
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
            "class_choices": taxonomy.class_names() or classes}


def accept_track(db: WebDatabase, user: str, device: str, track_id: int, class_name: str | None) -> dict:
    """Record the verdict and finalise the queued frames it completes; which frames were finalised."""
    if class_name is not None and not (isinstance(class_name, str) and 0 < len(class_name) <= MAX_NAME_CHARS
                                       and class_name.isprintable()):
        raise SubmissionError(f"class_name must be a printable string of 1..{MAX_NAME_CHARS} characters")
    with db.write() as conn:
        now = time.time()
        if class_name is not None:
            class_name = taxonomy_store.load(conn).submitted_class(class_name)
        frame_ids = [row[0] for row in conn.execute(
            "SELECT DISTINCT f.id FROM detections d JOIN frames f ON f.id = d.frame_id"
            " WHERE f.device = ? AND d.track_id = ?"
            " AND (f.status = 'pending' OR (f.status = 'in_review' AND f.claimed_by = ?)) ORDER BY f.id",
            [device, track_id, user])]
        if not frame_ids and not conn.execute(
                "SELECT 1 FROM detections d JOIN frames f ON f.id = d.frame_id WHERE f.device = ? AND d.track_id = ?",
                [device, track_id]).fetchone():
            raise FrameNotFoundError(f"no track {track_id} of device {device!r}")
        conn.execute(
            "INSERT INTO track_verdicts (device, track_id, class_name, user, at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (device, track_id) DO UPDATE SET class_name = excluded.class_name, user = excluded.user,"
            " at = excluded.at", [device, track_id, class_name, user, now])
        finalised, waiting = [], []
        for frame_id in frame_ids:
            status = _finalise_if_complete(conn, frame_id, device, user, now, track_id)
            (finalised if status else waiting).append(frame_id)
    return {"device": device, "track_id": track_id, "class_name": class_name, "finalised": finalised,
            "waiting": waiting}


def frame_extras(db: WebDatabase, frame: dict) -> dict:
    """What the review screen adds to a frame: verdicts of its tracks, the previous frame of each
    of its tracks (context), and the classes a reviewer picks from (the taxonomy's, or without
    one the model's class names)."""
    track_ids = sorted({d["track_id"] for d in frame["detections"] if d["track_id"] is not None})
    with db.read() as conn:
        taxonomy = taxonomy_store.load(conn)
        verdicts = {str(t): v for t in track_ids if (v := _verdict(conn, frame["device"], t)) is not None}
        context = {}
        for track_id in track_ids:
            row = conn.execute(
                "SELECT f.id, f.media_sha256, f.width, f.height, d.x1, d.y1, d.x2, d.y2, d.class_name, f.model_id"
                " FROM detections d JOIN frames f ON f.id = d.frame_id"
                " WHERE f.device = ? AND d.track_id = ? AND (f.capture_ts < ? OR (f.capture_ts = ? AND f.id < ?))"
                " ORDER BY f.capture_ts DESC, f.id DESC LIMIT 1",
                [frame["device"], track_id, frame["capture_ts"], frame["capture_ts"], frame["id"]]).fetchone()
            if row is not None:
                context[str(track_id)] = {"frame_id": row[0], "media": row[1], "width": row[2], "height": row[3],
                                          "box": list(row[4:8]),
                                          "class_name": taxonomy.project_class(row[9], row[8])[0]}
        names = conn.execute("SELECT class_names FROM models WHERE id = ?", [frame["model_id"]]).fetchone()
    class_names = taxonomy.class_names() or (json.loads(names[0]) if names else [])
    return {"verdicts": verdicts, "context": context, "class_names": class_names}


def _verdict(conn: sqlite3.Connection, device: str, track_id: int) -> dict | None:
    row = conn.execute("SELECT class_name, user, at FROM track_verdicts WHERE device = ? AND track_id = ?",
                       [device, track_id]).fetchone()
    return None if row is None else {"class_name": row[0], "user": row[1], "at": row[2]}


def _finalise_if_complete(conn: sqlite3.Connection, frame_id: int, device: str, user: str, now: float,
                          track_id: int) -> str | None:
    """Write the frame's annotations from verdicts if every box has one; its new status, else None."""
    verdicts = dict(conn.execute(
        "SELECT d.id, v.class_name FROM detections d JOIN track_verdicts v ON v.device = ? AND v.track_id = d.track_id"
        " WHERE d.frame_id = ?", [device, frame_id]).fetchall())
    detections = taxonomy_store.detections_of(conn, frame_id)
    if not all(d["id"] in verdicts for d in detections):
        return None
    rows = []
    for d in detections:
        class_name = verdicts[d["id"]] or d["class_name"]  # the fixed class, else the model's as it maps
        source = "model" if class_name == d["class_name"] else "human"
        rows.append((frame_id, d["x1"], d["y1"], d["x2"], d["y2"], class_name, d["track_id"], source, d["id"], user,
                     now))
    status = "accepted" if all(r[7] == "model" for r in rows) else "corrected"
    conn.executemany(
        "INSERT INTO annotations (frame_id, x1, y1, x2, y2, class_name, track_id, source, detection_id, author,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("UPDATE frames SET status = ?, claimed_by = NULL, lease_expires_at = NULL WHERE id = ?",
                 [status, frame_id])
    conn.execute("INSERT INTO review_events (frame_id, user, action, at, details) VALUES (?, ?, ?, ?, ?)",
                 [frame_id, user, "accept_track", now,
                  json.dumps({"status": status, "track_id": track_id, "annotations": len(rows),
                              "changed": sum(r[7] == "human" for r in rows)}, sort_keys=True)])
    return status
