"""Migration ``0005_consistency``: the tables of :mod:`server.consistency.reviews` (described there)."""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        """CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            reviewer TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('first', 'second', 'gold', 'adjudication')),
            verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'corrected', 'rejected')),
            labels TEXT NOT NULL,
            at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX reviews_frame ON reviews (frame_id, kind)",
        "CREATE INDEX reviews_at ON reviews (kind, at)",
        """CREATE TABLE overlap_frames (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            first_reviewer TEXT NOT NULL,
            second_reviewer TEXT,
            state TEXT NOT NULL CHECK (state IN ('awaiting_second', 'done')),
            score REAL,
            agreement TEXT
        ) STRICT""",
        "CREATE INDEX overlap_frames_waiting ON overlap_frames (first_reviewer) WHERE state = 'awaiting_second'",
        """CREATE TABLE adjudications (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            reason TEXT NOT NULL,
            opened_at REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            resolved_by TEXT,
            resolved_at REAL
        ) STRICT""",
        """CREATE TABLE gold_frames (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'corrected', 'rejected')),
            labels TEXT NOT NULL,
            marked_by TEXT NOT NULL,
            marked_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE gold_assignments (
            frame_id INTEGER NOT NULL REFERENCES gold_frames (frame_id),
            reviewer TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            lease_expires_at REAL NOT NULL,
            submitted_at REAL,
            PRIMARY KEY (frame_id, reviewer)
        ) STRICT""",
    ):
        execute_ddl(conn, statement)
