"""Migration ``0013_best_views``: for each (device, track), the stored frame showing it largest (issue 24).

``track_best_views`` holds one row per track: the frame whose box of the track has the largest
area (``area``, pixels; the earliest frame among equals). Ingest keeps it current in the same
transaction as the detections (:func:`server.review.best_views.record`); the review UI's track
strip opens on that frame. Tracks stored before this migration are filled from their detections.
"""

from sqlalchemy import Connection, text

from server.db.ddl import execute_ddl
from server.review.best_views import BEST_OF


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, """CREATE TABLE track_best_views (
            device TEXT NOT NULL,
            track_id INTEGER NOT NULL,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            area REAL NOT NULL,
            PRIMARY KEY (device, track_id)
        ) STRICT""")
    execute_ddl(conn, "CREATE INDEX track_best_views_frame ON track_best_views (frame_id)")
    conn.execute(text(f"INSERT INTO track_best_views (device, track_id, frame_id, area) {BEST_OF.format(frames='')}"))
