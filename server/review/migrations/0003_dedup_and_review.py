"""Migration ``0003_dedup_and_review``: duplicate groups, verified annotations, the review audit trail and leases (issue 7).

``frames`` gains the review queue's columns: ``review_priority`` (0..1, higher first) with
``priority_factors`` (JSON: what it was made of), and the lease of a claim: ``claimed_by``,
``lease_expires_at`` (Unix seconds). ``detections`` stay the model's immutable pre-labels;
``annotations`` hold the verified labels. See :mod:`server.review` and :mod:`server.dedup`.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    statements = [
        "ALTER TABLE frames ADD COLUMN review_priority REAL NOT NULL DEFAULT 0",
        "ALTER TABLE frames ADD COLUMN priority_factors TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE frames ADD COLUMN claimed_by TEXT",
        "ALTER TABLE frames ADD COLUMN lease_expires_at REAL",
        # Frames stored before this migration keep the edge's priority as their place in the queue.
        "UPDATE frames SET review_priority = priority",
        "CREATE INDEX frames_queue ON frames (status, review_priority DESC, id)",
        "CREATE INDEX frames_lease ON frames (lease_expires_at) WHERE status = 'in_review'",
        # One signature per frame; hashes are unsigned 64-bit values stored as signed integers.
        """CREATE TABLE frame_signatures (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            block_hash INTEGER NOT NULL,
            phash INTEGER NOT NULL,
            thumbnail BLOB NOT NULL,
            sharpness REAL NOT NULL,
            label_confidence REAL NOT NULL,
            edge_hash_distance INTEGER NOT NULL,
            group_id INTEGER NOT NULL REFERENCES dedup_groups (id)
        ) STRICT""",
        "CREATE INDEX frame_signatures_group ON frame_signatures (group_id)",
        # A group's id is its first frame's id; its representative is the one frame of it in the queue.
        """CREATE TABLE dedup_groups (
            id INTEGER PRIMARY KEY,
            representative_id INTEGER NOT NULL UNIQUE REFERENCES frames (id),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE duplicates (
            frame_id INTEGER PRIMARY KEY REFERENCES frames (id),
            duplicate_of INTEGER NOT NULL REFERENCES frames (id),
            kind TEXT NOT NULL CHECK (kind IN ('exact', 'near')),
            distance INTEGER NOT NULL,
            changed_area REAL,
            group_id INTEGER NOT NULL REFERENCES dedup_groups (id),
            decided_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX duplicates_group ON duplicates (group_id)",
        "CREATE INDEX duplicates_of ON duplicates (duplicate_of)",
        """CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
            class_name TEXT NOT NULL,
            track_id INTEGER,
            source TEXT NOT NULL CHECK (source IN ('model', 'human')),
            detection_id INTEGER REFERENCES detections (id),
            author TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX annotations_frame ON annotations (frame_id)",
        """CREATE TABLE review_events (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            at REAL NOT NULL,
            details TEXT NOT NULL DEFAULT '{}'
        ) STRICT""",
        "CREATE INDEX review_events_frame ON review_events (frame_id, at)",
        """CREATE TABLE device_hash_checks (
            device TEXT PRIMARY KEY,
            checked INTEGER NOT NULL,
            disagreed INTEGER NOT NULL,
            last_distance INTEGER NOT NULL,
            last_disagreement_at REAL
        ) STRICT""",
    ]
    if conn.dialect.name == "postgresql":
        # PostgreSQL needs a referenced table to exist already: dedup_groups before frame_signatures.
        groups = next(s for s in statements if s.startswith("CREATE TABLE dedup_groups"))
        statements.remove(groups)
        statements.insert(next(i for i, s in enumerate(statements) if s.startswith("CREATE TABLE frame_signatures")),
                          groups)
    for statement in statements:
        execute_ddl(conn, statement)
