"""The one owner of a frame's state: every status change, annotation write and review event.

Life of a frame (``frames.status``): ``pending`` (queued for review) -> ``in_review`` (claimed,
under a lease) -> ``accepted`` (the model's boxes are right), ``corrected`` (a reviewer changed
them) or ``rejected`` (unusable); ``in_review`` -> ``pending`` again on release, when the lease
expires or after the first of two blind reviews. ``duplicate`` frames never enter the queue (see
:mod:`server.dedup.engine`); ``synthetic`` frames are constructed ones kept out of it.

``annotations`` hold a frame's verified labels; ``review_events`` one row per change (frame, user,
action, at, details JSON). Every function here runs on the caller's connection inside its write
transaction (:meth:`server.db.Database.write`): the caller decides what a change means (the review
queue, a track verdict, an adjudication, ingest's duplicate check, a relabel, synthesis); this
module is where it is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from server.db import row_lock

FRAME_STATUSES = ("pending", "in_review", "accepted", "corrected", "rejected", "duplicate", "synthetic")
VERIFIED_STATUSES = ("accepted", "corrected")
"""A reviewer (or an import of verified labels) confirmed the frame's annotations."""
VERDICTS = (*VERIFIED_STATUSES, "rejected")
"""The outcomes of a review."""
SYNTHETIC_STATUS = "synthetic"
"""A synthetic frame kept out of the review queue (no queue or export query takes it)."""
SYSTEM_USER = "collector"
"""The ``user`` of review events the collector itself causes (a lease expired, a representative replaced)."""


@dataclass(frozen=True)
class Annotation:
    """A verified box of a frame (an ``annotations`` row before it is written)."""

    x1: float
    y1: float
    x2: float
    y2: float
    class_name: str
    track_id: int | None
    source: str
    """``model`` (a detection accepted as it was) or ``human``."""
    detection_id: int | None


_EVENT = text("INSERT INTO review_events (frame_id, \"user\", action, at, details)"
              " VALUES (:frame_id, :user, :action, :at, :details)")
_ANNOTATION = text(
    "INSERT INTO annotations (frame_id, x1, y1, x2, y2, class_name, track_id, source, detection_id, author,"
    " created_at) VALUES (:frame_id, :x1, :y1, :x2, :y2, :class_name, :track_id, :source, :detection_id, :author,"
    " :created_at)")
_SET_STATUS = text("UPDATE frames SET status = :status, claimed_by = NULL, lease_expires_at = NULL WHERE id = :id")


def record_event(conn: Connection, frame_id: int, user: str, action: str, at: float, details: dict) -> None:
    """One review event; actions: ``claim``, ``renew``, ``release``, ``lease_expired``, ``accept``,
    ``correct``, ``reject``, ``accept_track``, ``adjudicate``, ``mark_gold``, ``relabel`` and the
    collector's own ``marked_duplicate``."""
    conn.execute(_EVENT, {"frame_id": frame_id, "user": user, "action": action, "at": at,
                          "details": json.dumps(details, sort_keys=True)})


# --- the review queue -------------------------------------------------------------------------------


def claim(conn: Connection, frame_id: int, user: str, now: float, lease_expires_at: float) -> None:
    conn.execute(text("UPDATE frames SET status = 'in_review', claimed_by = :user, lease_expires_at = :until"
                      " WHERE id = :id"), {"user": user, "until": lease_expires_at, "id": frame_id})
    record_event(conn, frame_id, user, "claim", now, {"lease_expires_at": lease_expires_at})


def renew(conn: Connection, frame_id: int, user: str, now: float, lease_expires_at: float) -> None:
    conn.execute(text("UPDATE frames SET lease_expires_at = :until WHERE id = :id"),
                 {"until": lease_expires_at, "id": frame_id})
    record_event(conn, frame_id, user, "renew", now, {"lease_expires_at": lease_expires_at})


def release(conn: Connection, frame_id: int, user: str, now: float) -> None:
    """A claimed frame back to the queue unreviewed."""
    conn.execute(_SET_STATUS, {"status": "pending", "id": frame_id})
    record_event(conn, frame_id, user, "release", now, {})


def return_expired_leases(conn: Connection, now: float) -> None:
    # Several web nodes run this at once: a frame another transaction is returning (or claiming
    # again) is passed over, and the update re-checks the lease, so a fresh claim made meanwhile is
    # never undone and each expiry is recorded once.
    expired = conn.execute(text("SELECT id, claimed_by FROM frames WHERE status = 'in_review'"
                                " AND lease_expires_at < :now" + row_lock(conn, skip_locked=True)), {"now": now}).all()
    for frame_id, holder in expired:
        returned = conn.execute(text(
            "UPDATE frames SET status = 'pending', claimed_by = NULL, lease_expires_at = NULL"
            " WHERE id = :id AND status = 'in_review' AND lease_expires_at < :now"), {"id": frame_id, "now": now})
        if returned.rowcount:
            record_event(conn, frame_id, SYSTEM_USER, "lease_expired", now, {"claimed_by": holder})


def requeue_for_second_review(conn: Connection, frame_id: int, user: str, decision: str, status: str,
                              now: float) -> None:
    """The first of two blind reviews was given (kept in ``reviews`` only): the frame waits for another reviewer."""
    conn.execute(_SET_STATUS, {"status": "pending", "id": frame_id})
    record_event(conn, frame_id, user, decision, now, {"status": status, "overlap": "first"})


def finish_review(conn: Connection, frame_id: int, user: str, status: str, boxes: list[Annotation],
                  now: float) -> None:
    """A reviewer's verdict: the frame's status and its annotations (the event is :func:`record_event`'s,
    written by the caller once it knows all its details)."""
    conn.execute(_SET_STATUS, {"status": status, "id": frame_id})
    _insert_annotations(conn, frame_id, boxes, user, now)


def accept_track_frame(conn: Connection, frame_id: int, user: str, boxes: list[Annotation], track_id: int,
                       now: float) -> str:
    """Finalise a frame whose every box has a track verdict; its new status."""
    status = "accepted" if all(box.source == "model" for box in boxes) else "corrected"
    finish_review(conn, frame_id, user, status, boxes, now)
    record_event(conn, frame_id, user, "accept_track", now, {
        "status": status, "track_id": track_id, "annotations": len(boxes),
        "changed": sum(box.source == "human" for box in boxes)})
    return status


def adjudicate(conn: Connection, frame_id: int, admin: str, status: str, boxes: list[Annotation], now: float) -> None:
    """An admin's decision on a disputed frame replaces its annotations and status."""
    conn.execute(text("DELETE FROM annotations WHERE frame_id = :id"), {"id": frame_id})
    _insert_annotations(conn, frame_id, boxes, admin, now)
    conn.execute(text("UPDATE frames SET status = :status WHERE id = :id"), {"status": status, "id": frame_id})
    record_event(conn, frame_id, admin, "adjudicate", now, {"status": status, "annotations": len(boxes)})


# --- ingest, relabel --------------------------------------------------------------------------------


def demote_to_duplicate(conn: Connection, frame_id: int, now: float, details: dict) -> bool:
    """A queued group representative replaced by a better frame becomes a duplicate; False when it
    was not ``pending`` (anymore)."""
    updated = conn.execute(text("UPDATE frames SET status = 'duplicate', claimed_by = NULL, lease_expires_at = NULL"
                                " WHERE id = :id AND status = 'pending'"), {"id": frame_id}).rowcount
    if updated:
        conn.execute(_EVENT, {"frame_id": frame_id, "user": SYSTEM_USER, "action": "marked_duplicate", "at": now,
                              "details": json.dumps(details)})
    return bool(updated)


def mark_older_duplicate(conn: Connection, frame_id: int) -> None:
    """A frame stored before duplicate detection found to repeat another (signature backfill)."""
    conn.execute(text("UPDATE frames SET status = 'duplicate' WHERE id = :id"), {"id": frame_id})


def rename_annotation_classes(conn: Connection, renames: list[tuple[int, str]], renamed_per_frame: dict[int, dict],
                              user: str, now: float) -> None:
    """Relabel: (annotation id, new class) pairs, and per frame a ``relabel`` event listing its renames."""
    if renames:
        conn.execute(text("UPDATE annotations SET class_name = :class_name WHERE id = :id"),
                     [{"class_name": name, "id": annotation_id} for annotation_id, name in renames])
    for frame_id, renamed in sorted(renamed_per_frame.items()):
        record_event(conn, frame_id, user, "relabel", now, {"renamed": renamed})


def add_synthetic_frame(conn: Connection, row: dict, queued: bool) -> int:
    """A constructed frame (``row``: its ``frames`` columns but ``seq``, ``frame_index``,
    ``priority`` and ``status``): ``pending`` when queued for review, else ``synthetic``; its id.
    Its ``seq`` counts down from -1 per device: edge sequence numbers are never negative."""
    lowest = min(0, conn.execute(text("SELECT COALESCE(MIN(seq), 0) FROM frames WHERE device = :device"),
                                 {"device": row["device"]}).scalar_one())
    return conn.execute(text(
        "INSERT INTO frames (device, seq, capture_ts, source_ts, frame_index, received_at, width, height,"
        " model_id, media_sha256, media_bytes, phash, reasons, priority, status, review_priority)"
        " VALUES (:device, :seq, :capture_ts, :source_ts, -1, :received_at, :width, :height, :model_id,"
        " :media_sha256, :media_bytes, :phash, :reasons, 0, :status, :review_priority) RETURNING id"),
        {**row, "seq": lowest - 1, "status": "pending" if queued else SYNTHETIC_STATUS}).scalar_one()


def _insert_annotations(conn: Connection, frame_id: int, boxes: Iterable[Annotation], author: str, now: float) -> None:
    rows = [{"frame_id": frame_id, "x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "class_name": b.class_name,
             "track_id": b.track_id, "source": b.source, "detection_id": b.detection_id, "author": author,
             "created_at": now} for b in boxes]
    if rows:
        conn.execute(_ANNOTATION, rows)
