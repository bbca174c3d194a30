"""The best view of each track: the stored frame whose box of the track is largest (issue 24).

Reviewers check a track on the frame that shows it best; the edge's selector already tries to keep
large views, and the collector points at the largest it received. ``track_best_views`` (migration
``0013_best_views``) holds one row per (device, track); :func:`record` updates it in the ingest
transaction from the detections just inserted, so it is never behind the frames.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from server.db import sql

BEST_OF = (
    "SELECT device, track_id, frame_id, area FROM ("
    " SELECT f.device AS device, d.track_id AS track_id, d.frame_id AS frame_id,"
    " (d.x2 - d.x1) * (d.y2 - d.y1) AS area,"
    " ROW_NUMBER() OVER (PARTITION BY f.device, d.track_id"
    "  ORDER BY (d.x2 - d.x1) * (d.y2 - d.y1) DESC, d.frame_id) AS place"
    " FROM detections d JOIN frames f ON f.id = d.frame_id"
    " WHERE d.track_id IS NOT NULL{frames}) ranked WHERE place = 1"
)
"""Per (device, track), the frame with its largest box (the earliest among equals); ``{frames}``
narrows it (``''``: every stored frame)."""

RECORD = sql(
    "INSERT INTO track_best_views (device, track_id, frame_id, area) "
    + BEST_OF.format(frames=" AND d.frame_id IN :frame_ids")
    + " ON CONFLICT (device, track_id) DO UPDATE SET frame_id = excluded.frame_id, area = excluded.area"
    " WHERE excluded.area > track_best_views.area",
    "frame_ids")

BEST_FRAME = text("SELECT frame_id FROM track_best_views WHERE device = :device AND track_id = :track_id")


def record(conn: Connection, frame_ids: Sequence[int]) -> None:
    """Point each track the frames ``frame_ids`` show at the largest of its views so far."""
    if frame_ids:
        conn.execute(RECORD, {"frame_ids": list(frame_ids)})


def best_frame(conn: Connection, device: str, track_id: int) -> int | None:
    """The id of the frame showing the track largest, None if no stored frame shows it."""
    return conn.execute(BEST_FRAME, {"device": device, "track_id": track_id}).scalar()
