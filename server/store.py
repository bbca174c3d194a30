"""The collector's database: frames, their detections, devices, models and rejection counts.

Everything lives in the data directory: ``edgelabel.db`` (SQLite in WAL mode) and ``media/``
(the JPEGs, see :mod:`server.media`). The schema is built by the ordered :data:`MIGRATIONS`; each
runs once, in its own transaction, and is recorded in the ``migrations`` table.

Ingest (:meth:`Store.ingest_frames`, used by the receiver and by importers) stores a batch, finds
duplicates (:mod:`server.dedup`: an in-memory index of group representatives, rebuilt from the
database by :meth:`Store.prepare_ingest`) and queues the other frames with a review priority
(:mod:`server.review.priority`), all in the batch's one transaction.

Threads and connections: the receiver thread is the single writer of ingest. ``serve`` opens the store with
:meth:`Store.open` (so a bad data dir fails before anything starts) and hands it to the receiver
thread, which is then its only regular user. A lock around every use of the connection keeps a
stray call from another thread (e.g. ``stats()``) from interleaving with a write transaction. Each
write is one ``BEGIN IMMEDIATE`` transaction, so any other writer (another process, the review UI)
waits up to ``busy_timeout`` for the lock instead of failing halfway. The review API is
the other writer, on its own connection (:func:`open_second_writer`), with short transactions
of its own. Readers such as
``edgelabel-collector stats`` or exports open their own connection with :meth:`Store.open_readonly`;
WAL lets them read a consistent snapshot while ``serve`` keeps writing.

Durability: with WAL and ``synchronous=FULL`` every commit is fsynced, and the JPEGs of a batch are
fsynced before the commit that references them. So once :meth:`Store.store_frames` returns, the
frames survive a power cut and the ack may go out to the edge.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from edge.contract.wire import NO_TRACK, REJECTION_CODES, DeviceStatus, FrameHeader, Labels, WireError
from server.consistency.schema import create_tables as create_consistency_tables
from server.dedup.engine import DedupDecision, Deduplicator
from server.dedup.frame_signature import FrameSignature, signature_of_gray
from server.dedup.policy import DedupPolicy
from server.errors import StoreError
from server.frame_source import FrameSource
from server.images import gray_for_signature, verify_jpeg
from server.media import MediaStore
from server.review.priority import PriorityScorer
from server.synthetic.schema import create_tables as create_synthetic_tables
from server.taxonomy.schema import create_tables as create_taxonomy_tables

log = logging.getLogger("server.store")

DB_FILENAME = "edgelabel.db"
MEDIA_DIRNAME = "media"

BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another writer's lock before it fails with a StoreError."""

UNKNOWN_DEVICE = ""
"""Device column of a rejection whose sender could not be named (unreadable header, unknown key)."""

MAX_DETAIL_CHARS = 500

REJECTION_FLUSH_SECONDS = 1.0
"""Rejection counts are buffered in memory at most this long (or until the next stored batch).
A flood of malformed messages then costs one commit per second, not one fsync per message; a
crash can lose at most this window of counts, never a frame."""

MAX_PENDING_REJECTIONS = 1000
"""Flush earlier when this many (device, code) pairs are waiting."""


# --- schema ---------------------------------------------------------------------------------------


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


FRAME_STATUSES = ("pending", "in_review", "accepted", "corrected", "rejected", "duplicate")
"""Life of a frame: ``pending`` (queued for review), ``in_review`` (claimed, under a lease), then
``accepted`` (the model's boxes are right), ``corrected`` (a reviewer changed them) or ``rejected``
(unusable); ``duplicate`` frames never enter the queue (see the ``duplicates`` table)."""


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


def _add_frame_source(db: Database) -> None:
    """The file an imported frame came from (:mod:`server.frame_source`); NULL for frames from the edge."""
    db.execute("ALTER TABLE frames ADD COLUMN source_file TEXT")
    db.execute("ALTER TABLE frames ADD COLUMN source_image_id INTEGER")


Migration = tuple[str, Callable[[Database], None]]

MIGRATIONS: list[Migration] = [
    ("0001_initial", _create_initial_schema),
    ("0002_device_status", _create_device_status),
    ("0003_dedup_and_review", _create_dedup_and_review),
    ("0004_accounts", _create_accounts),
    ("0005_consistency", create_consistency_tables),
    ("0006_taxonomy", create_taxonomy_tables),
    ("0007_synthetic", create_synthetic_tables),
    ("0008_frame_source", _add_frame_source),
]
"""Applied in order, each once. Append new ones; never edit or reorder applied ones."""


# --- the store -------------------------------------------------------------------------------------


IncomingFrame = tuple[FrameHeader, bytes] | tuple[FrameHeader, bytes, FrameSignature]
"""A validated frame for :meth:`Store.ingest_frames`: header, JPEG and, when the caller already
decoded the image (the receiver does), its signature; without one the store decodes the JPEG."""


@dataclass(frozen=True)
class IngestOutcome:
    """What became of one frame of a batch."""

    stored: bool
    """False when its (device, seq) was already stored (a retransmission): nothing was written."""
    frame_id: int | None = None
    status: str | None = None
    """``pending`` (queued) or ``duplicate``; None when not stored."""
    duplicate_of: int | None = None
    kind: str | None = None
    """``exact`` or ``near`` for a duplicate."""
    distance: int | None = None
    review_priority: float | None = None
    replaced: int | None = None
    """A representative this frame replaced in the queue (it became a duplicate of this one)."""


@dataclass(frozen=True)
class IngestReadiness:
    """What :meth:`Store.prepare_ingest` did."""

    representatives: int
    backfilled: int
    seconds: float


class Store:
    """Frames, detections, devices, models and rejection counts of one data directory.

    Open it with :meth:`open` (the single writer) or :meth:`open_readonly` (any number of readers).
    """

    def __init__(self, db: Database, data_dir: Path, writable: bool, dedup_policy: DedupPolicy | None = None):
        """Use :meth:`open` or :meth:`open_readonly`; they check the schema first."""
        # Ingest state, for the writer only: the duplicate index and the queue's priority statistics.
        self.dedup = Deduplicator(dedup_policy) if writable else None
        self.scorer = PriorityScorer() if writable else None
        self._ingest_ready = False
        self.db = db
        self.data_dir = data_dir
        self.db_path = data_dir / DB_FILENAME
        self.media = MediaStore(data_dir / MEDIA_DIRNAME)
        self.writable = writable
        self._closed = False
        # Serialises use of the one connection; sqlite3's own thread check is off so the store can
        # be opened in one thread and handed to the receiver thread.
        self._lock = threading.RLock()
        # (device, code) -> [count, last_detail, last_at] not yet written; see REJECTION_FLUSH_SECONDS.
        self._pending_rejections: dict[tuple[str, str], list] = {}
        self._last_rejection_flush = time.monotonic()

    @classmethod
    def open(cls, data_dir: Path, dedup_policy: DedupPolicy | None = None) -> Store:
        """Open (creating it if needed) the data directory's database for writing and migrate it."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc.strerror or exc}") from None
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise StoreError(f"data directory {data_dir} is not writable")
        db_path = data_dir / DB_FILENAME
        conn = None
        try:
            with _sql_errors("cannot open database", db_path):
                conn = sqlite3.connect(db_path, check_same_thread=False)
                db = Database(conn)
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                # Check whose file it is before WAL mode changes it.
                _check_known_schema(db, db_path)
                db.enable_wal()
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA foreign_keys = ON")
                _migrate(db)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(db, data_dir, writable=True, dedup_policy=dedup_policy)

    @classmethod
    def open_readonly(cls, data_dir: Path) -> Store:
        """Open an existing database for reading; works while a writer (``serve``) is running."""
        data_dir = Path(data_dir)
        db_path = data_dir / DB_FILENAME
        if not db_path.is_file():
            raise StoreError(f"no edgelabel database in {data_dir} (expected {db_path})")
        uri = f"file:{urllib.parse.quote(str(db_path.absolute()))}?mode=ro"
        conn = None
        try:
            with _sql_errors("cannot open database", db_path):
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                db = Database(conn)
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA query_only = ON")
                applied = _check_known_schema(db, db_path)
            missing = [name for name, _ in MIGRATIONS if name not in applied]
            if missing:
                raise StoreError(
                    f"database {db_path} has an older schema (missing {', '.join(missing)}); "
                    "open it for writing once (start the collector) to upgrade it"
                )
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(db, data_dir, writable=False)

    # --- writing (the single writer only) --------------------------------------------------------

    def store_frames(self, batch: list[IncomingFrame]) -> list[bool]:
        """Store validated frames in one transaction; per item, True if new, False if a retransmission.

        See :meth:`ingest_frames`, which this is with less detail.
        """
        return [outcome.stored for outcome in self.ingest_frames(batch)]

    def ingest_frames(self, batch: list[IncomingFrame],
                      sources: Sequence[FrameSource | None] | None = None) -> list[IngestOutcome]:
        """Store validated frames in one transaction, find their duplicates and queue the rest.

        The entry point for anything that brings frames in (the receiver, an importer). A
        retransmission is a (device, seq) already stored, or repeated earlier in ``batch``; nothing
        of it is written again. A new frame that repeats a stored picture is stored with status
        ``duplicate`` and a ``duplicates`` row (see :mod:`server.dedup.engine`); any other is
        ``pending`` with its review priority (:mod:`server.review.priority`). JPEGs are written
        durably before the commit, so when this returns every frame of the batch is on disk; on
        any error none of the batch's rows is stored and :class:`StoreError` is raised (media files
        already written stay, unreferenced and harmless). ``sources``, one per frame of ``batch``
        (importers give them), are the files the frames were read from.
        """
        self._require_writer()
        if not batch:
            return []
        frames = [_with_signature(item) for item in batch]
        with self._lock:
            self.prepare_ingest()
            try:
                with _immediate_transaction(self.db):
                    self._write_pending_rejections()
                    outcomes = self._insert_batch(frames, received_at=time.time(), sources=sources)
            except BaseException as exc:
                self.dedup.rollback()
                if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.ProgrammingError):
                    raise StoreError(f"cannot store {len(batch)} frame(s) in {self.db_path}: {exc}") from exc
                raise
            self.dedup.commit()
            for (header, _, _), outcome in zip(frames, outcomes):
                if outcome.stored:
                    self.scorer.observe(header)
            self._rejections_flushed()
            return outcomes

    def prepare_ingest(self) -> IngestReadiness | None:
        """Load the duplicate index and the priority statistics (once; None if already done).

        Signs frames stored before signatures existed (reading their JPEGs) and decides on their
        duplicates. ``serve`` calls this at start-up so the first batch does not pay for it.
        """
        self._require_writer()
        with self._lock:
            if self._ingest_ready:
                return None
            started = time.monotonic()
            try:
                with _read_transaction(self.db):
                    self.scorer.load(self.db.conn)
                    loaded = self.dedup.load(self.db.conn)
                backfilled = self._backfill_signatures()
            except sqlite3.ProgrammingError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot load the duplicate index from {self.db_path}: {exc}") from exc
            self._ingest_ready = True
            readiness = IngestReadiness(loaded + backfilled, backfilled, time.monotonic() - started)
            log.info("duplicate index: %d group representative(s) loaded in %.2f s%s", readiness.representatives,
                     readiness.seconds, f" ({backfilled} older frame(s) signed)" if backfilled else "")
            return readiness

    def record_status(self, status: DeviceStatus) -> None:
        """Keep a device's latest heartbeat (one small transaction)."""
        self._require_writer()
        row = {"device": status.device, "received_at": time.time(), "device_ts": status.ts,
               "model_id": status.model_id, "counters": json.dumps(status.counters, sort_keys=True)}
        with self._lock:
            try:
                with _immediate_transaction(self.db):
                    self.db["device_status"].upsert(row, pk="device")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot record the status of {status.device!r} in {self.db_path}: {exc}") from exc

    def count_rejection(self, device: str | None, code: str, detail: str) -> None:
        """Count one rejected message. ``device`` is None when the sender could not be named.

        Cheap: counts are buffered and written with the next batch, by :meth:`flush_rejections`
        (call it on the receiver's idle tick), or here once the buffer is older than
        :data:`REJECTION_FLUSH_SECONDS`.
        """
        self._require_writer()
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}, expected one of {REJECTION_CODES}")
        key = (device or UNKNOWN_DEVICE, code)
        detail = detail[:MAX_DETAIL_CHARS]
        with self._lock:
            pending = self._pending_rejections.get(key)
            if pending is None:
                self._pending_rejections[key] = [1, detail, time.time()]
            else:
                pending[0] += 1
                pending[1:] = [detail, time.time()]
            if (
                time.monotonic() - self._last_rejection_flush >= REJECTION_FLUSH_SECONDS
                or len(self._pending_rejections) >= MAX_PENDING_REJECTIONS
            ):
                self.flush_rejections()

    def flush_rejections(self) -> None:
        """Write buffered rejection counts now (one transaction, nothing to do if none)."""
        self._require_writer()
        with self._lock:
            if not self._pending_rejections:
                self._last_rejection_flush = time.monotonic()
                return
            try:
                with _immediate_transaction(self.db):
                    self._write_pending_rejections()
            except sqlite3.ProgrammingError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot record rejections in {self.db_path}: {exc}") from exc
            self._rejections_flushed()

    # --- reading (writer or reader) ----------------------------------------------------------------

    def stats(self) -> dict:
        """Counts for ``edgelabel-collector stats``; JSON-ready, from one consistent snapshot."""
        with self._lock:
            if self.writable:
                self.flush_rejections()
            with _sql_errors("cannot read database", self.db_path), _read_transaction(self.db):
                return self._read_stats()

    def frame_rows(self, status: str | None = None) -> list[dict]:
        """Rows of the ``frames`` table (``reasons`` decoded), oldest first, optionally of one status."""
        where, params = ("WHERE status = ?", [status]) if status is not None else ("", [])
        with self._lock, _sql_errors("cannot read database", self.db_path):
            return [_decode_frame_row(row) for row in self._rows(f"SELECT * FROM frames {where} ORDER BY id", params)]

    def iter_frames(self, status: str | None = None, page_size: int = 256) -> Iterator[dict]:
        """Frame rows as :meth:`frame_rows`, each with its ``detections`` list; streamed, for exports.

        Reads ``page_size`` frames per query and holds no cursor or snapshot between pages, so a
        long export neither blocks the writer's WAL checkpoints nor loads the whole table.
        """
        status_filter, status_params = ("AND status = ?", [status]) if status is not None else ("", [])
        last_id = 0
        while True:
            with self._lock, _sql_errors("cannot read database", self.db_path):
                frames = [
                    _decode_frame_row(row)
                    for row in self._rows(
                        f"SELECT * FROM frames WHERE id > ? {status_filter} ORDER BY id LIMIT ?",
                        [last_id, *status_params, page_size],
                    )
                ]
                if not frames:
                    return
                detections_by_frame = self._detections_of([frame["id"] for frame in frames])
            for frame in frames:
                frame["detections"] = detections_by_frame.get(frame["id"], [])
                yield frame
            last_id = frames[-1]["id"]

    def close(self) -> None:
        """Write buffered rejection counts (writer) and close the connection. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                if self.writable:
                    self.flush_rejections()
            finally:
                self._closed = True
                self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- helpers -----------------------------------------------------------------------------------

    def _insert_batch(self, batch: list[tuple[FrameHeader, bytes, FrameSignature]], received_at: float,
                      sources: Sequence[FrameSource | None] | None = None) -> list[IngestOutcome]:
        """The body of :meth:`ingest_frames`; runs inside its transaction."""
        self._upsert_models([(header, jpeg) for header, jpeg, _ in batch])
        self._touch_devices([(header, jpeg) for header, jpeg, _ in batch], received_at)
        outcomes: list[IngestOutcome | None] = []
        seen: set[tuple[str, int]] = set()
        new_frames: list[tuple[int, FrameHeader, bytes, FrameSignature]] = []
        for position, (header, jpeg, signature) in enumerate(batch):
            key = (header.device, header.seq)
            is_new = key not in seen and not self._frame_exists(key)
            seen.add(key)
            outcomes.append(None if is_new else IngestOutcome(stored=False))
            if is_new:
                new_frames.append((position, header, jpeg, signature))
        if not new_frames:
            return outcomes
        # Media first (durable before the commit that references them), all in one go.
        digests = self.media.put_many([jpeg for _, _, jpeg, _ in new_frames])
        new_per_device: Counter[str] = Counter()
        detection_rows: list[tuple] = []
        batch_tracks: set[tuple[str, int]] = set()
        conn = self.db.conn
        cursor = conn.cursor()
        # Plain executes: this is the ingest hot path, and sqlite-utils' per-call introspection costs more
        # than the insert itself.
        for (position, header, jpeg, signature), sha256 in zip(new_frames, digests):
            decision = self.dedup.decide(conn, header, signature, sha256)
            priority, factors = self.scorer.score(header, decision.novelty, batch_tracks)
            if decision.demotes is not None:  # it represents the group now: keep the group's place
                priority = max(priority, decision.demotes.review_priority)
            batch_tracks.update((header.device, track) for track in header.labels.track_id if track != NO_TRACK)
            source = sources[position] if sources is not None else None
            cursor.execute(_INSERT_FRAME, _frame_values(header, sha256, len(jpeg), received_at)
                           + (decision.status, priority, json.dumps(factors, sort_keys=True))
                           + ((None, None) if source is None else (source.file_name, source.image_id)))
            frame_id = cursor.lastrowid
            detection_rows.extend(_detection_values(frame_id, header))
            self.dedup.record(conn, frame_id, header, signature, decision, received_at)
            outcomes[position] = _outcome(frame_id, decision, priority)
            new_per_device[header.device] += 1
        cursor.executemany(_INSERT_DETECTION, detection_rows)
        self.dedup.audit.write(conn, received_at)
        for device, count in new_per_device.items():
            self.db.execute("UPDATE devices SET frames_stored = frames_stored + ? WHERE name = ?", [count, device])
        return outcomes

    def _backfill_signatures(self, batch_size: int = 256) -> int:
        """Sign and dedup frames stored before migration 0003 (in id order); how many were signed."""
        signed, last_id = 0, 0
        while True:
            rows = self._rows(
                "SELECT f.* FROM frames f LEFT JOIN frame_signatures s ON s.frame_id = f.id"
                " WHERE s.frame_id IS NULL AND f.id > ?"
                " AND f.id NOT IN (SELECT frame_id FROM synthetic_frames)"  # never in the duplicate index
                " ORDER BY f.id LIMIT ?", [last_id, batch_size]
            )
            if not rows:
                return signed
            last_id = rows[-1]["id"]
            detections = self._detections_of([row["id"] for row in rows])
            class_names = {row["id"]: json.loads(row["class_names"]) for row in self._rows("SELECT * FROM models")}
            now = time.time()
            try:
                signed += self._backfill_rows(rows, detections, class_names, now)
            except BaseException:
                self.dedup.rollback()
                raise
            self.dedup.commit()

    def _backfill_rows(self, rows: list[dict], detections: dict, class_names: dict, now: float) -> int:
        """One transaction of :meth:`_backfill_signatures`; how many frames it signed."""
        conn = self.db.conn
        signed = 0
        with _immediate_transaction(self.db):
            for row in rows:
                header = _stored_header(row, detections.get(row["id"], []), class_names.get(row["model_id"], []))
                signature = self._stored_signature(row)
                if signature is None:  # unreadable media (logged): left unsigned, tried again next start
                    continue
                if row["status"] == "pending":
                    decision = self.dedup.decide(conn, header, signature, row["media_sha256"])
                else:  # already reviewed: keep it as it is, in a group of its own
                    decision = DedupDecision(None)
                if decision.kind is not None:
                    conn.execute("UPDATE frames SET status = 'duplicate' WHERE id = ?", [row["id"]])
                self.dedup.record(conn, row["id"], header, signature, decision, now)
                signed += 1
            self.dedup.audit.forget()  # the edge's hashes of old frames were never checked at ingest
        return signed

    def _stored_signature(self, row: dict) -> FrameSignature | None:
        try:
            jpeg = self.media.path_for(row["media_sha256"]).read_bytes()
            return signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, row["width"], row["height"])))
        except (OSError, WireError, StoreError) as exc:
            log.warning("frame %d: cannot sign its stored image (%s)", row["id"], exc)
            return None

    def _read_stats(self) -> dict:
        rows, scalar = self._rows, self._scalar
        devices = {
            row["name"]: {
                "frames": row["frames_stored"],
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
                "last_seq": row["last_seq"],
            }
            for row in rows(
                "SELECT name, frames_stored, first_seen, last_seen,"
                " (SELECT MAX(seq) FROM frames WHERE frames.device = devices.name) AS last_seq"
                " FROM devices ORDER BY name"
            )
        }
        for row in rows("SELECT device, received_at, device_ts, model_id, counters FROM device_status"):
            device = devices.setdefault(
                row["device"], {"frames": 0, "first_seen": None, "last_seen": None, "last_seq": None}
            )
            device["status"] = {"received_at": row["received_at"], "device_ts": row["device_ts"],
                                "model_id": row["model_id"], **json.loads(row["counters"])}
        # Media are content-addressed: identical JPEGs share one file, so count distinct digests.
        media = rows(
            "SELECT COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM"
            " (SELECT MAX(media_bytes) AS bytes FROM frames GROUP BY media_sha256)"
        )[0]
        rejection_rows = rows("SELECT device, code, count, last_detail, last_at FROM rejections ORDER BY device, code")
        return {
            "database": str(self.db_path),
            "totals": {
                "frames": scalar("SELECT COUNT(*) FROM frames"),
                "detections": scalar("SELECT COUNT(*) FROM detections"),
                "devices": len(devices),
                "media_files": media["files"],
                "media_bytes": media["bytes"],
                "rejections": sum(row["count"] for row in rejection_rows),
            },
            "devices": devices,
            "frames_by_status": {
                row["status"]: row["n"]
                for row in rows("SELECT status, COUNT(*) AS n FROM frames GROUP BY status ORDER BY status")
            },
            "detections_by_class": {
                row["class_name"]: row["n"]
                for row in rows(
                    "SELECT class_name, COUNT(*) AS n FROM detections GROUP BY class_name ORDER BY n DESC, class_name"
                )
            },
            "rejections": {
                "by_code": {
                    row["code"]: row["n"]
                    for row in rows("SELECT code, SUM(count) AS n FROM rejections GROUP BY code ORDER BY code")
                },
                "by_device": [
                    {**row, "device": None if row["device"] == UNKNOWN_DEVICE else row["device"]}
                    for row in rejection_rows
                ],
            },
        }

    def _detections_of(self, frame_ids: list[int]) -> dict[int, list[dict]]:
        by_frame: dict[int, list[dict]] = {}
        placeholders = ", ".join("?" * len(frame_ids))
        for row in self._rows(
            "SELECT frame_id, id, x1, y1, x2, y2, score, class_id, class_name, track_id"
            f" FROM detections WHERE frame_id IN ({placeholders}) ORDER BY frame_id, id",
            frame_ids,
        ):
            by_frame.setdefault(row.pop("frame_id"), []).append(row)
        return by_frame

    def _require_writer(self) -> None:
        if not self.writable:
            raise StoreError(f"database {self.db_path} was opened read-only")

    def _rows(self, sql: str, params: list | None = None) -> list[dict]:
        return list(self.db.query(sql, params or []))

    def _scalar(self, sql: str, params: list | None = None):
        return self.db.execute(sql, params or []).fetchone()[0]

    def _frame_exists(self, key: tuple[str, int]) -> bool:
        # Inside BEGIN IMMEDIATE nobody else can insert between this check and our insert.
        return self.db.execute("SELECT 1 FROM frames WHERE device = ? AND seq = ?", list(key)).fetchone() is not None

    def _upsert_models(self, batch: list[tuple[FrameHeader, bytes]]) -> None:
        # Latest class list wins; every detection row also keeps its own class_name.
        models = {header.model_id: list(header.class_names) for header, _ in batch}
        self.db["models"].upsert_all(
            [{"id": model_id, "class_names": json.dumps(names)} for model_id, names in models.items()], pk="id"
        )

    def _touch_devices(self, batch: list[tuple[FrameHeader, bytes]], now: float) -> None:
        for device in dict.fromkeys(header.device for header, _ in batch):
            self.db.execute(
                "INSERT INTO devices (name, first_seen, last_seen, frames_stored) VALUES (?, ?, ?, 0)"
                " ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen",
                [device, now, now],
            )

    def _write_pending_rejections(self) -> None:
        if not self._pending_rejections:
            return
        self.db.conn.executemany(
            "INSERT INTO rejections (device, code, count, last_detail, last_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (device, code) DO UPDATE SET count = count + excluded.count,"
            " last_detail = excluded.last_detail, last_at = excluded.last_at",
            [(device, code, *pending) for (device, code), pending in self._pending_rejections.items()],
        )

    def _rejections_flushed(self) -> None:
        """Forget the buffer once the transaction that wrote it has committed."""
        self._pending_rejections.clear()
        self._last_rejection_flush = time.monotonic()


# --- rows ------------------------------------------------------------------------------------------


_FRAME_COLUMNS = ("device", "seq", "capture_ts", "source_ts", "frame_index", "received_at", "width", "height",
                  "model_id", "media_sha256", "media_bytes", "phash", "reasons", "priority",
                  "status", "review_priority", "priority_factors", "source_file", "source_image_id")
_INSERT_FRAME = f"INSERT INTO frames ({', '.join(_FRAME_COLUMNS)}) VALUES ({', '.join('?' * len(_FRAME_COLUMNS))})"
_INSERT_DETECTION = (
    "INSERT INTO detections (frame_id, x1, y1, x2, y2, score, class_id, class_name, track_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _frame_values(header: FrameHeader, media_sha256: str, media_bytes: int, received_at: float) -> tuple:
    """One frames row, in :data:`_FRAME_COLUMNS` order, but for the queue's three columns and the source's two."""
    return (header.device, header.seq, header.capture_ts, header.source_ts, header.frame_index, received_at,
            header.width, header.height, header.model_id, media_sha256, media_bytes, header.phash,
            json.dumps(list(header.reasons)), header.priority)


def _detection_values(frame_id: int, header: FrameHeader) -> list[tuple]:
    labels = header.labels
    return [
        (frame_id, x1, y1, x2, y2, score, class_id, header.class_names[class_id],
         None if track_id == NO_TRACK else track_id)  # NULL: no tracker assigned one
        for (x1, y1, x2, y2), score, class_id, track_id in zip(
            labels.xyxy, labels.score, labels.class_id, labels.track_id, strict=True
        )
    ]


def _decode_frame_row(row: dict) -> dict:
    decoded = {**row, "reasons": json.loads(row["reasons"])}
    if "priority_factors" in row:
        decoded["priority_factors"] = json.loads(row["priority_factors"])
    return decoded


def _with_signature(item: IncomingFrame) -> tuple[FrameHeader, bytes, FrameSignature]:
    if len(item) == 3:
        return item
    header, jpeg = item
    try:
        gray = gray_for_signature(jpeg, verify_jpeg(jpeg, header.width, header.height))
    except WireError as exc:
        raise StoreError(f"frame {header.device}/{header.seq}: {exc.detail}") from None
    return header, jpeg, signature_of_gray(gray)


def _outcome(frame_id: int, decision: DedupDecision, priority: float) -> IngestOutcome:
    return IngestOutcome(
        stored=True, frame_id=frame_id, status=decision.status, duplicate_of=decision.duplicate_of,
        kind=decision.kind, distance=decision.distance if decision.kind else None, review_priority=priority,
        replaced=decision.demotes.frame_id if decision.demotes else None,
    )


def _stored_header(row: dict, detections: list[dict], class_names: list[str]) -> FrameHeader:
    """A frame header rebuilt from its stored row, for signing frames stored before signatures."""
    names = list(class_names) or ["object"]
    for detection in detections:
        if detection["class_name"] not in names:
            names.append(detection["class_name"])
    labels = Labels(
        xyxy=tuple((d["x1"], d["y1"], d["x2"], d["y2"]) for d in detections),
        score=tuple(d["score"] for d in detections),
        class_id=tuple(names.index(d["class_name"]) for d in detections),
        track_id=tuple(NO_TRACK if d["track_id"] is None else d["track_id"] for d in detections),
    )
    return FrameHeader(
        device=row["device"], seq=row["seq"], capture_ts=row["capture_ts"], width=row["width"], height=row["height"],
        model_id=row["model_id"], class_names=tuple(names), labels=labels, reasons=tuple(json.loads(row["reasons"])),
        priority=row["priority"], phash=row["phash"], frame_index=row["frame_index"], source_ts=row["source_ts"],
    )


# --- other writers ---------------------------------------------------------------------------------


def open_second_writer(data_dir: Path) -> sqlite3.Connection:
    """A writable connection for a writer besides the ingest thread (the review API).

    The schema must be current (it never migrates: ``serve`` does that). The connection is in
    autocommit mode, so its user runs short ``BEGIN IMMEDIATE`` transactions of its own; they wait
    up to ``busy_timeout`` for the ingest thread's lock, and the ingest thread for theirs.
    """
    data_dir = Path(data_dir)
    db_path = data_dir / DB_FILENAME
    if not db_path.is_file():
        raise StoreError(f"no edgelabel database in {data_dir} (expected {db_path})")
    conn = None
    try:
        with _sql_errors("cannot open database", db_path):
            conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            applied = _check_known_schema(Database(conn), db_path)
            missing = [name for name, _ in MIGRATIONS if name not in applied]
            if missing:
                raise StoreError(f"database {db_path} has an older schema (missing {', '.join(missing)}); "
                                 "start the collector once to upgrade it")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def open_command_writer(data_dir: Path) -> sqlite3.Connection:
    """:func:`open_second_writer` for a command working on an existing data directory (``classes``,
    ``synthesize``), ``serve`` running or not: the schema is upgraded first when this collector is
    newer than the file, and a missing database is an error rather than created."""
    data_dir = Path(data_dir)
    if not (data_dir / DB_FILENAME).is_file():
        raise StoreError(f"no edgelabel database in {data_dir} (expected {data_dir / DB_FILENAME}; "
                         "start the collector there first)")
    Store.open(data_dir).close()  # migrates
    return open_second_writer(data_dir)


@contextmanager
def write_transaction(conn: sqlite3.Connection, what: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on a second writer's autocommit connection: waits for
    ``serve``'s lock (busy_timeout) instead of failing halfway; SQLite failures become a StoreError
    saying what could not be done (``what``, e.g. "store the background")."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot {what}: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.ProgrammingError):
            raise StoreError(f"cannot {what}: {exc}") from exc
        raise


# --- transactions and schema checks ----------------------------------------------------------------


@contextmanager
def _immediate_transaction(db: Database) -> Iterator[None]:
    """One write transaction that takes the write lock up front (waits busy_timeout if held)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise


@contextmanager
def _read_transaction(db: Database) -> Iterator[None]:
    """Several SELECTs that see one snapshot, even while the writer commits."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.rollback()


@contextmanager
def _sql_errors(action: str, db_path: Path) -> Iterator[None]:
    """Turn SQLite failures into one-line StoreErrors; misuse of the connection stays a bug."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise StoreError(f"{db_path} is not an edgelabel database (not an SQLite file)") from None
        raise StoreError(f"{action} {db_path}: {exc}") from exc


def _check_known_schema(db: Database, db_path: Path) -> set[str]:
    """Names of the applied migrations; refuses foreign databases and newer schemas."""
    tables = set(db.table_names())
    if "migrations" not in tables:
        if tables:
            raise StoreError(f"{db_path} is not an edgelabel database (it has tables but no migrations record)")
        return set()
    try:
        applied = {row["name"] for row in db.query("SELECT name FROM migrations")}
    except sqlite3.OperationalError:
        raise StoreError(f"{db_path} is not an edgelabel database (unexpected migrations table)") from None
    known = [name for name, _ in MIGRATIONS]
    if applied and known[0] not in applied:
        raise StoreError(f"{db_path} is not an edgelabel database (unknown migrations record)")
    newer = sorted(applied - set(known))
    if newer:
        raise StoreError(
            f"database {db_path} was written by a newer edgelabel (unknown migrations: {', '.join(newer)}); "
            "upgrade this collector"
        )
    return applied


def _migrate(db: Database) -> None:
    db["migrations"].create({"name": str, "applied_at": float}, pk="name", not_null=["applied_at"], if_not_exists=True)
    for name, apply in MIGRATIONS:
        with _immediate_transaction(db):
            # Re-checked under the write lock: another process may have applied it meanwhile.
            if db["migrations"].count_where("name = ?", [name]):
                continue
            apply(db)
            db["migrations"].insert({"name": name, "applied_at": time.time()})
