"""Storing synthetic frames next to the real ones, marked so nothing mistakes them for camera frames.

A frame is a ``frames`` row (see :mod:`server.synthetic` for its columns) plus a ``synthetic_frames``
row with its run and recipe (background, and per object its source annotation, anchor, placed
rectangle and scale), and one ``synthetic_objects`` row per pasted object with its exact box. The
JPEG goes to the media store and is durable before the commit, as at ingest. No signature is
written, so the frame never enters the duplicate index (:meth:`server.store.Store.prepare_ingest`
skips synthetic frames too).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict

from server.dedup.frame_signature import signature_of_gray
from server.images import gray_for_signature, verify_jpeg
from server.media import MediaStore
from server.store import write_transaction
from server.synthetic.generate import SynthesisSettings, SyntheticFrame
from server.synthetic.schema import SYNTHETIC_STATUS
from server.synthetic.sources import encode_jpeg

SYNTHETIC_REASON = "synthetic"
REVIEW_PRIORITY = 0.5
"""Queue position of a synthetic frame queued with ``--review`` (real frames range over 0..1)."""
JPEG_QUALITY = 92
PRELABEL_SCORE = 1.0


def start_run(conn: sqlite3.Connection, device: str, settings: SynthesisSettings, seed: int,
              background_sha256: str) -> int:
    with write_transaction(conn, "record the synthesis run"):
        cursor = conn.execute(
            "INSERT INTO synthetic_runs (device, classes, requested, seed, settings, background_sha256, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [device, json.dumps(list(settings.classes)), settings.count, seed,
             json.dumps(asdict(settings), sort_keys=True), background_sha256, time.time()],
        )
        return cursor.lastrowid


def finish_run(conn: sqlite3.Connection, run_id: int) -> None:
    with write_transaction(conn, "record the end of the synthesis run"):
        conn.execute("UPDATE synthetic_runs SET finished_at = ? WHERE id = ?", [time.time(), run_id])


def recipe_of(frame: SyntheticFrame, background_sha256: str, colour_match: bool) -> dict:
    return {
        "background_sha256": background_sha256,
        "colour_match": colour_match,
        "objects": [{
            "source_annotation_id": pasted.placement.obj.annotation_id,
            "source_frame_id": pasted.placement.obj.frame_id,
            "source_xyxy": [round(v, 2) for v in pasted.placement.obj.xyxy],
            "mask_kind": pasted.placement.obj.mask_kind,
            "anchor": [round(anchor[0], 2), round(anchor[1], 2)],
            "placed_ltwh": [pasted.placement.left, pasted.placement.top, pasted.placement.width,
                            pasted.placement.height],
            "scale": round(pasted.placement.height / pasted.placement.obj.height, 4),
        } for pasted, anchor in zip(frame.objects, frame.anchors)],
    }


def store_frame(conn: sqlite3.Connection, media: MediaStore, run_id: int, device: str, model_id: str,
                frame: SyntheticFrame, recipe: dict, review: bool) -> int:
    """Store one synthetic frame (one transaction); its frame id."""
    height, width = frame.image.shape[:2]
    jpeg = encode_jpeg(frame.image, JPEG_QUALITY)
    phash = signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, width, height))).phash
    sha256 = media.put(jpeg)
    now = time.time()
    with write_transaction(conn, f"store a synthetic frame of {device!r}"):
        # Edge sequence numbers are never negative: counting down from -1 cannot collide with them.
        (lowest,) = conn.execute("SELECT MIN(MIN(seq), 0) FROM frames WHERE device = ?", [device]).fetchone()
        seq = (lowest or 0) - 1
        cursor = conn.execute(
            "INSERT INTO frames (device, seq, capture_ts, source_ts, frame_index, received_at, width, height,"
            " model_id, media_sha256, media_bytes, phash, reasons, priority, status, review_priority)"
            " VALUES (?, ?, ?, ?, -1, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            [device, seq, now, now, now, width, height, model_id, sha256, len(jpeg), f"{phash:016x}",
             json.dumps([SYNTHETIC_REASON]), "pending" if review else SYNTHETIC_STATUS,
             REVIEW_PRIORITY if review else 0.0],
        )
        frame_id = cursor.lastrowid
        conn.execute("INSERT INTO synthetic_frames (frame_id, run_id, recipe) VALUES (?, ?, ?)",
                     [frame_id, run_id, json.dumps(recipe, sort_keys=True)])
        conn.executemany(
            "INSERT INTO synthetic_objects (frame_id, x1, y1, x2, y2, class_name, source_annotation_id, mask_kind,"
            " occluded_fraction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(frame_id, *pasted.xyxy, pasted.placement.obj.class_name, pasted.placement.obj.annotation_id,
              pasted.placement.obj.mask_kind, round(pasted.occluded_fraction, 4)) for pasted in frame.objects],
        )
        if review:  # the reviewer needs boxes to judge: the constructed ones, offered as pre-labels
            (names,) = conn.execute("SELECT class_names FROM models WHERE id = ?", [model_id]).fetchone()
            class_names = json.loads(names)
            conn.executemany(
                "INSERT INTO detections (frame_id, x1, y1, x2, y2, score, class_id, class_name, track_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [(frame_id, *pasted.xyxy, PRELABEL_SCORE,
                  class_names.index(pasted.placement.obj.class_name)
                  if pasted.placement.obj.class_name in class_names else -1,
                  pasted.placement.obj.class_name) for pasted in frame.objects],
            )
    return frame_id
