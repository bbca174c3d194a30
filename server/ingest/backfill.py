"""Signing frames stored before duplicate detection existed (migration ``0003``), at start-up.

Each unsigned frame's JPEG is read back and signed; a ``pending`` one is checked for duplicates
like a new frame, an already reviewed one keeps its state in a group of its own. Synthetic frames
are never signed (they stay out of the duplicate index).
"""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import text

from edge.contract.wire import WireError
from server.db import Database, sql
from server.dedup.engine import DedupDecision, Deduplicator
from server.dedup.frame_signature import FrameSignature, signature_of_gray
from server.errors import StoreError
from server.frames import state
from server.frames.reading import detections_of
from server.images import gray_for_signature, verify_jpeg
from server.ingest.rows import stored_header
from server.media import MediaBackend

log = logging.getLogger("server.ingest")

_UNSIGNED = text(
    "SELECT f.* FROM frames f LEFT JOIN frame_signatures s ON s.frame_id = f.id"
    " WHERE s.frame_id IS NULL AND f.id > :last_id"
    " AND f.id NOT IN (SELECT frame_id FROM synthetic_frames)"  # never in the duplicate index
    " ORDER BY f.id LIMIT :limit")

_SIGNED = sql("SELECT frame_id FROM frame_signatures WHERE frame_id IN :ids", "ids")


def backfill_signatures(db: Database, media: MediaBackend, dedup: Deduplicator, batch_size: int = 256) -> int:
    """Sign and dedup unsigned frames (in id order), one transaction per batch; how many were signed."""
    signed, last_id = 0, 0
    while True:
        with db.read("read the unsigned frames") as conn:
            rows = [dict(row._mapping) for row in conn.execute(_UNSIGNED, {"last_id": last_id, "limit": batch_size})]
            if not rows:
                return signed
            detections = detections_of(conn, [row["id"] for row in rows])
            class_names = {model_id: json.loads(names) for model_id, names in
                           conn.execute(text("SELECT id, class_names FROM models"))}
        last_id = rows[-1]["id"]
        try:
            signed += _backfill_rows(db, media, dedup, rows, detections, class_names, time.time())
        except BaseException:
            dedup.rollback()
            raise
        dedup.commit()


def _backfill_rows(db: Database, media: MediaBackend, dedup: Deduplicator, rows: list[dict], detections: dict,
                   class_names: dict, now: float) -> int:
    signed = 0
    with db.write("sign older frames") as conn:
        dedup.catch_up(conn, {row["device"] for row in rows})
        # Another node starting at the same time may have signed some of them while we waited.
        signed_meanwhile = set(conn.execute(_SIGNED, {"ids": [row["id"] for row in rows]}).scalars())
        for row in rows:
            if row["id"] in signed_meanwhile:
                continue
            header = stored_header(row, detections.get(row["id"], []), class_names.get(row["model_id"], []))
            signature = _stored_signature(media, row)
            if signature is None:  # unreadable media (logged): left unsigned, tried again next start
                continue
            if row["status"] == "pending":
                decision = dedup.decide(conn, header, signature, row["media_sha256"])
            else:  # already reviewed: keep it as it is, in a group of its own
                decision = DedupDecision(None)
            if decision.kind is not None:
                state.mark_older_duplicate(conn, row["id"])
            dedup.record(conn, row["id"], header, signature, decision, now)
            signed += 1
        dedup.audit.forget()  # the edge's hashes of old frames were never checked at ingest
    return signed


def _stored_signature(media: MediaBackend, row: dict) -> FrameSignature | None:
    try:
        jpeg = media.get(row["media_sha256"])
        return signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, row["width"], row["height"])))
    except (OSError, WireError, StoreError) as exc:
        log.warning("frame %d: cannot sign its stored image (%s)", row["id"], exc)
        return None
