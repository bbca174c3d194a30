"""Migration ``0007_synthetic``: the tables of :mod:`server.synthetic` (described in its docstring)."""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        # One current background per device; the media store holds its JPEG.
        """CREATE TABLE device_backgrounds (
            device TEXT PRIMARY KEY REFERENCES devices (name),
            media_sha256 TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            frame_ids TEXT NOT NULL,
            eligible_frames INTEGER NOT NULL,
            newest_frame_id INTEGER NOT NULL,
            uncovered_fraction REAL NOT NULL,
            computed_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE synthetic_runs (
            id INTEGER PRIMARY KEY,
            device TEXT NOT NULL REFERENCES devices (name),
            classes TEXT NOT NULL,
            requested INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            settings TEXT NOT NULL,
            background_sha256 TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL
        ) STRICT""",
        """CREATE TABLE synthetic_frames (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            run_id INTEGER NOT NULL REFERENCES synthetic_runs (id),
            recipe TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX synthetic_frames_run ON synthetic_frames (run_id)",
        """CREATE TABLE synthetic_objects (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES synthetic_frames (frame_id),
            x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
            class_name TEXT NOT NULL,
            source_annotation_id INTEGER NOT NULL REFERENCES annotations (id),
            mask_kind TEXT NOT NULL CHECK (mask_kind IN ('foreground', 'grabcut', 'box')),
            occluded_fraction REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX synthetic_objects_frame ON synthetic_objects (frame_id)",
    ):
        execute_ddl(conn, statement)
