"""The schema migrations of edgelabel as of commit 0e2f366 (before :mod:`server.db`), copied verbatim.

Frozen here so a test can build a database exactly as that version did (sqlite-utils DDL and
all) and check that the current migration runner upgrades it without loss. Never edit.
"""

import time

from sqlite_utils import Database


def _create_initial_schema(db: Database) -> None:
    # Times are Unix seconds (float) throughout, like the wire header's capture_ts.
    db["devices"].create(
        {"name": str, "first_seen": float, "last_seen": float, "frames_stored": int},
        pk="name",
        not_null=["first_seen", "last_seen", "frames_stored"],
        defaults={"frames_stored": 0},
        strict=True,
    )
    db["models"].create(
        {"id": str, "class_names": str},  # class_names: JSON list, index = class id
        pk="id",
        not_null=["class_names"],
        strict=True,
    )
    db["frames"].create(
        {
            "id": int,
            "device": str,
            "seq": int,
            "capture_ts": float,
            "source_ts": float,
            "frame_index": int,
            "received_at": float,
            "width": int,
            "height": int,
            "model_id": str,
            "media_sha256": str,
            "media_bytes": int,
            "phash": str,  # 16 hex digits (64-bit perceptual hash)
            "reasons": str,  # JSON list of why the edge selected the frame
            "priority": float,
            "status": str,
        },
        pk="id",
        foreign_keys=[("device", "devices", "name"), ("model_id", "models", "id")],
        not_null=[
            "device", "seq", "capture_ts", "source_ts", "frame_index", "received_at", "width", "height",
            "model_id", "media_sha256", "media_bytes", "phash", "reasons", "priority", "status",
        ],
        defaults={"status": "pending"},
        strict=True,
    )
    # (device, seq) is the idempotency key of the wire protocol.
    db["frames"].create_index(["device", "seq"], index_name="frames_device_seq", unique=True)
    db["frames"].create_index(["status", "priority"], index_name="frames_status_priority")  # review queue
    db["frames"].create_index(["media_sha256"], index_name="frames_media_sha256")  # exact dedup
    db["frames"].create_index(["model_id"], index_name="frames_model_id")
    db["detections"].create(
        {
            "id": int,
            "frame_id": int,
            "x1": float,
            "y1": float,
            "x2": float,
            "y2": float,
            "score": float,
            "class_id": int,
            "class_name": str,
            "track_id": int,  # NULL when no tracker assigned one (NO_TRACK on the wire)
        },
        pk="id",
        foreign_keys=[("frame_id", "frames", "id")],
        not_null=["frame_id", "x1", "y1", "x2", "y2", "score", "class_id", "class_name"],
        strict=True,
    )
    db["detections"].create_index(["frame_id"], index_name="detections_frame_id")
    db["rejections"].create(
        {"device": str, "code": str, "count": int, "last_detail": str, "last_at": float},
        pk=("device", "code"),
        not_null=["device", "code", "count", "last_detail", "last_at"],
        strict=True,
    )


def _create_device_status(db: Database) -> None:
    # The last heartbeat of each device. Not tied to `devices`: a device reports before its first frame.
    db["device_status"].create(
        {"device": str, "received_at": float, "device_ts": float, "model_id": str, "counters": str},
        pk="device",
        not_null=["received_at", "device_ts", "model_id", "counters"],  # counters: JSON object
        strict=True,
    )


def _create_dedup_and_review(db: Database) -> None:
    """Duplicate groups, verified annotations, the review audit trail and leases (issue 7).

    ``frames`` gains the review queue's columns: ``review_priority`` (0..1, higher first) with
    ``priority_factors`` (JSON: what it was made of), and the lease of a claim: ``claimed_by``,
    ``lease_expires_at`` (Unix seconds). ``detections`` stay the model's immutable pre-labels;
    ``annotations`` hold the verified labels. See :mod:`server.review` and :mod:`server.dedup`.
    """
    for statement in (
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
    ):
        db.execute(statement)


def _create_accounts(db: Database) -> None:
    """Reviewer accounts, their login sessions and track verdicts (issue 8, :mod:`server.auth`).

    ``accounts.password``: an scrypt hash string (:mod:`server.auth.passwords`); ``failed_logins``
    and ``locked_until`` slow down password guessing. ``sessions`` keep only the SHA-256 of a
    session token, so a copy of the database cannot be used to log in; ``csrf_token`` is the
    synchronizer token every state change of that session must send back. ``track_verdicts`` hold
    a reviewer's decision on a whole track (device, track id): its boxes are right, with
    ``class_name`` NULL (as the model said) or fixed to that class; see :mod:`server.api.tracks`.
    """
    for statement in (
        """CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
            password TEXT NOT NULL,
            created_at REAL NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until REAL NOT NULL DEFAULT 0
        ) STRICT""",
        """CREATE TABLE sessions (
            token_sha256 TEXT PRIMARY KEY,
            account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX sessions_account ON sessions (account)",
        """CREATE TABLE track_verdicts (
            device TEXT NOT NULL,
            track_id INTEGER NOT NULL,
            class_name TEXT,
            user TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (device, track_id)
        ) STRICT""",
        "CREATE INDEX detections_track ON detections (track_id) WHERE track_id IS NOT NULL",
    ):
        db.execute(statement)


def _create_consistency(db: Database) -> None:
    """Migration ``0005_consistency`` (``db``: a sqlite_utils Database)."""
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
        db.execute(statement)


def _create_taxonomy(db: Database) -> None:
    """Migration ``0006_taxonomy`` (``db``: a sqlite_utils Database)."""
    for statement in (
        """CREATE TABLE taxonomy_classes (
            name TEXT PRIMARY KEY,
            guideline TEXT NOT NULL DEFAULT '',
            position INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE taxonomy_aliases (
            alias TEXT PRIMARY KEY,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE
        ) STRICT""",
        "CREATE INDEX taxonomy_aliases_class ON taxonomy_aliases (class_name)",
        """CREATE TABLE model_class_map (
            model_id TEXT NOT NULL,
            model_class TEXT NOT NULL,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE,
            PRIMARY KEY (model_id, model_class)
        ) STRICT""",
        # No foreign key to annotations: an adjudication replaces a frame's annotations, and the
        # example (its box and crop) stays valid as the picture it was.
        """CREATE TABLE class_examples (
            id INTEGER PRIMARY KEY,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            annotation_id INTEGER NOT NULL,
            x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
            crop_sha256 TEXT NOT NULL,
            crop_width INTEGER NOT NULL,
            crop_height INTEGER NOT NULL,
            added_by TEXT NOT NULL,
            added_at REAL NOT NULL,
            UNIQUE (class_name, annotation_id)
        ) STRICT""",
    ):
        db.execute(statement)


def _create_synthetic(db: Database) -> None:
    """Migration ``0007_synthetic`` (``db``: a sqlite_utils Database)."""
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
        db.execute(statement)


MIGRATIONS = [
    ("0001_initial", _create_initial_schema),
    ("0002_device_status", _create_device_status),
    ("0003_dedup_and_review", _create_dedup_and_review),
    ("0004_accounts", _create_accounts),
    ("0005_consistency", _create_consistency),
    ("0006_taxonomy", _create_taxonomy),
    ("0007_synthetic", _create_synthetic),
]


def build(path, upto: int = len(MIGRATIONS)) -> None:
    """A database at ``path`` migrated as 0e2f366's ``Store.open`` did, through the first ``upto`` migrations."""
    db = Database(path)
    db.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    db["migrations"].create({"name": str, "applied_at": float}, pk="name", not_null=["applied_at"], if_not_exists=True)
    for name, apply in MIGRATIONS[:upto]:
        db.execute("BEGIN IMMEDIATE")
        apply(db)
        db["migrations"].insert({"name": name, "applied_at": time.time()})
        db.execute("COMMIT")
    db.close()
