"""The single writer of ingest: batches stored, checked for duplicates and queued in one transaction.

Ingest (:meth:`IngestWriter.ingest_frames`, used by the receiver and by importers) stores a batch,
finds duplicates (:mod:`server.dedup`: an in-memory index of group representatives, rebuilt from
the database by :meth:`IngestWriter.prepare_ingest`) and queues the other frames with a review
priority (:mod:`server.review.priority`), all in the batch's one write transaction.

Threads: the receiver thread is the single writer of ingest. A lock around every use keeps a stray
call from another thread (e.g. ``stats()`` flushing rejections) from interleaving with a batch.
Each write is one ``BEGIN IMMEDIATE`` transaction (:meth:`server.db.Database.write`), so any other
writer (another process, the review UI) waits up to ``busy_timeout`` for the lock instead of
failing halfway.

Durability: the JPEGs of a batch are fsynced before the commit that references them, and every
commit is fsynced (WAL, ``synchronous = FULL``). So once :meth:`IngestWriter.ingest_frames`
returns, the frames survive a power cut and the ack may go out to the edge.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from edge.contract.wire import NO_TRACK, DeviceStatus, FrameHeader, WireError
from server.db import Database
from server.dedup.engine import DedupDecision, Deduplicator
from server.dedup.frame_signature import FrameSignature, signature_of_gray
from server.dedup.policy import DedupPolicy
from server.errors import StoreError
from server.frame_source import FrameSource
from server.images import gray_for_signature, verify_jpeg
from server.ingest import rows
from server.ingest.backfill import backfill_signatures
from server.ingest.rejections import RejectionBuffer
from server.ingest.rows import IngestOutcome
from server.media import MediaBackend
from server.review import best_views
from server.review.priority import PriorityScorer

log = logging.getLogger("server.ingest")

IncomingFrame = tuple[FrameHeader, bytes] | tuple[FrameHeader, bytes, FrameSignature]
"""A validated frame for :meth:`IngestWriter.ingest_frames`: header, JPEG and, when the caller
already decoded the image (the receiver does), its signature; without one it is decoded here."""


@dataclass(frozen=True)
class IngestReadiness:
    """What :meth:`IngestWriter.prepare_ingest` did."""

    representatives: int
    backfilled: int
    seconds: float


class IngestWriter:
    def __init__(self, db: Database, media: MediaBackend, dedup_policy: DedupPolicy | None = None):
        self.db = db
        self.media = media
        self.dedup = Deduplicator(dedup_policy)
        self.scorer = PriorityScorer()
        self.rejections = RejectionBuffer()
        self._ready = False
        self._lock = threading.RLock()

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
        if not batch:
            return []
        frames = [_with_signature(item) for item in batch]
        with self._lock:
            self.prepare_ingest()
            try:
                with self.db.write(f"store {len(batch)} frame(s)") as conn:
                    # Other nodes' index changes; waits while one decides on these devices (server.dedup.changes).
                    self.dedup.catch_up(conn, {header.device for header, _, _ in frames})
                    self.rejections.write(conn)
                    outcomes = self._insert_batch(conn, frames, received_at=time.time(), sources=sources)
            except BaseException:
                self.dedup.rollback()
                raise
            self.dedup.commit()
            for (header, _, _), outcome in zip(frames, outcomes):
                if outcome.stored:
                    self.scorer.observe(header)
            self.rejections.written()
            return outcomes

    def prepare_ingest(self) -> IngestReadiness | None:
        """Load the duplicate index and the priority statistics (once; None if already done).

        Signs frames stored before signatures existed (reading their JPEGs) and decides on their
        duplicates. ``serve`` calls this at start-up so the first batch does not pay for it.
        """
        with self._lock:
            if self._ready:
                return None
            started = time.monotonic()
            with self.db.read("load the duplicate index") as conn:
                self.scorer.load(conn)
                loaded = self.dedup.load(conn)
            backfilled = backfill_signatures(self.db, self.media, self.dedup)
            self._ready = True
            readiness = IngestReadiness(loaded + backfilled, backfilled, time.monotonic() - started)
            log.info("duplicate index: %d group representative(s) loaded in %.2f s%s", readiness.representatives,
                     readiness.seconds, f" ({backfilled} older frame(s) signed)" if backfilled else "")
            return readiness

    def record_status(self, status: DeviceStatus) -> None:
        """Keep a device's latest heartbeat (one small transaction)."""
        with self._lock, self.db.write(f"record the status of {status.device!r}") as conn:
            conn.execute(rows.UPSERT_STATUS, {
                "device": status.device, "received_at": time.time(), "device_ts": status.ts,
                "model_id": status.model_id, "counters": json.dumps(status.counters, sort_keys=True)})

    def count_rejection(self, device: str | None, code: str, detail: str) -> None:
        """Count one rejected message. ``device`` is None when the sender could not be named.

        Cheap: counts are buffered and written with the next batch, by :meth:`flush_rejections`
        (call it on the receiver's idle tick), or here once the buffer is old or large
        (:mod:`server.ingest.rejections`).
        """
        with self._lock:
            if self.rejections.add(device, code, detail):
                self.flush_rejections()

    def flush_rejections(self) -> None:
        """Write buffered rejection counts now (one transaction, nothing to do if none)."""
        with self._lock:
            if self.rejections:
                with self.db.write("record rejections") as conn:
                    self.rejections.write(conn)
            self.rejections.written()

    # --- helpers -----------------------------------------------------------------------------------

    def _insert_batch(self, conn: Connection, batch: list[tuple[FrameHeader, bytes, FrameSignature]],
                      received_at: float, sources: Sequence[FrameSource | None] | None = None) -> list[IngestOutcome]:
        """The body of :meth:`ingest_frames`; runs inside its transaction."""
        # Latest class list wins; every detection row also keeps its own class_name.
        models = {header.model_id: list(header.class_names) for header, _, _ in batch}
        conn.execute(rows.UPSERT_MODEL, [{"id": model_id, "class_names": json.dumps(names)}
                                         for model_id, names in models.items()])
        conn.execute(rows.TOUCH_DEVICE, [{"name": device, "now": received_at}
                                         for device in dict.fromkeys(header.device for header, _, _ in batch)])
        outcomes: list[IngestOutcome | None] = []
        # Nobody else can insert one of these keys between this check and our insert: on SQLite this
        # transaction holds the write lock (BEGIN IMMEDIATE); on PostgreSQL TOUCH_DEVICE's upsert
        # locks each device's row until the commit, so another node's batch of the same device
        # waits there and then (read committed) sees these frames as stored. The unique index on
        # (device, seq) stands behind both.
        seen = _stored_keys(conn, [header for header, _, _ in batch])
        new_frames: list[tuple[int, FrameHeader, bytes, FrameSignature]] = []
        for position, (header, jpeg, signature) in enumerate(batch):
            key = (header.device, header.seq)
            is_new = key not in seen
            seen.add(key)
            outcomes.append(None if is_new else IngestOutcome(stored=False))
            if is_new:
                new_frames.append((position, header, jpeg, signature))
        if not new_frames:
            return outcomes
        # Media first (durable before the commit that references them), all in one go.
        digests = self.media.put_many([jpeg for _, _, jpeg, _ in new_frames])
        new_per_device: Counter[str] = Counter()
        detection_rows: list[dict] = []
        batch_tracks: set[tuple[str, int]] = set()
        for (position, header, jpeg, signature), sha256 in zip(new_frames, digests):
            decision = self.dedup.decide(conn, header, signature, sha256)
            priority, factors = self.scorer.score(header, decision.novelty, batch_tracks)
            if decision.demotes is not None:  # it represents the group now: keep the group's place
                priority = max(priority, decision.demotes.review_priority)
            batch_tracks.update((header.device, track) for track in header.labels.track_id if track != NO_TRACK)
            frame_id = rows.INSERT_FRAME.execute(conn, rows.frame_values(
                header, sha256, len(jpeg), received_at, decision.status, priority, factors,
                None if sources is None else sources[position])).fetchone()[0]
            detection_rows.extend(rows.detection_values(frame_id, header))
            self.dedup.record(conn, frame_id, header, signature, decision, received_at)
            outcomes[position] = _outcome(frame_id, decision, priority)
            new_per_device[header.device] += 1
        rows.INSERT_DETECTION.executemany(conn, detection_rows)
        best_views.record(conn, [outcomes[position].frame_id for position, _, _, _ in new_frames])
        self.dedup.audit.write(conn, received_at)
        conn.execute(rows.COUNT_STORED, [{"count": count, "name": device} for device, count in new_per_device.items()])
        return outcomes


def _stored_keys(conn: Connection, headers: list[FrameHeader]) -> set[tuple[str, int]]:
    """The (device, seq) keys of the batch already stored: one query per device of the batch."""
    seqs: dict[str, list[int]] = {}
    for header in headers:
        seqs.setdefault(header.device, []).append(header.seq)
    return {(device, seq) for device, device_seqs in seqs.items()
            for seq in conn.execute(rows.STORED_SEQS, {"device": device, "seqs": device_seqs}).scalars()}


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
