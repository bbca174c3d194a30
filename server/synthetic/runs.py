"""Storing synthetic frames next to the real ones, marked so nothing mistakes them for camera frames.

A frame is a ``frames`` row (see :mod:`server.synthetic` for its columns) plus a ``synthetic_frames``
row with its run and recipe (background, and per object its source annotation, anchor, placed
rectangle and scale), and one ``synthetic_objects`` row per pasted object with its exact box. The
JPEG goes to the media store and is durable before the commit, as at ingest. No signature is
written, so the frame never enters the duplicate index (the signature backfill,
:mod:`server.ingest.backfill`, skips synthetic frames too). The ``frames`` row itself is written
by :func:`server.frames.state.add_synthetic_frame`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from sqlalchemy import text

from server.db import Database
from server.dedup.frame_signature import signature_of_gray
from server.frames import state
from server.images import gray_for_signature, verify_jpeg
from server.media import MediaBackend
from server.synthetic.generate import SynthesisSettings, SyntheticFrame
from server.synthetic.source_frames import encode_jpeg

SYNTHETIC_REASON = "synthetic"
REVIEW_PRIORITY = 0.5
"""Queue position of a synthetic frame queued with ``--review`` (real frames range over 0..1)."""
JPEG_QUALITY = 92
PRELABEL_SCORE = 1.0


def start_run(db: Database, device: str, settings: SynthesisSettings, seed: int, background_sha256: str) -> int:
    with db.write("record the synthesis run") as conn:
        return conn.execute(text(
            "INSERT INTO synthetic_runs (device, classes, requested, seed, settings, background_sha256, started_at)"
            " VALUES (:device, :classes, :requested, :seed, :settings, :background, :now) RETURNING id"),
            {"device": device, "classes": json.dumps(list(settings.classes)), "requested": settings.count,
             "seed": seed, "settings": json.dumps(asdict(settings), sort_keys=True), "background": background_sha256,
             "now": time.time()}).scalar_one()


def finish_run(db: Database, run_id: int) -> None:
    with db.write("record the end of the synthesis run") as conn:
        conn.execute(text("UPDATE synthetic_runs SET finished_at = :now WHERE id = :id"),
                     {"now": time.time(), "id": run_id})


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


def store_frame(db: Database, media: MediaBackend, run_id: int, device: str, model_id: str,
                frame: SyntheticFrame, recipe: dict, review: bool) -> int:
    """Store one synthetic frame (one transaction); its frame id."""
    height, width = frame.image.shape[:2]
    jpeg = encode_jpeg(frame.image, JPEG_QUALITY)
    phash = signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, width, height))).phash
    sha256 = media.put(jpeg)
    now = time.time()
    with db.write(f"store a synthetic frame of {device!r}") as conn:
        frame_id = state.add_synthetic_frame(conn, {
            "device": device, "capture_ts": now, "source_ts": now, "received_at": now, "width": width,
            "height": height, "model_id": model_id, "media_sha256": sha256, "media_bytes": len(jpeg),
            "phash": f"{phash:016x}", "reasons": json.dumps([SYNTHETIC_REASON]),
            "review_priority": REVIEW_PRIORITY if review else 0.0}, queued=review)
        conn.execute(text("INSERT INTO synthetic_frames (frame_id, run_id, recipe) VALUES (:frame_id, :run_id, :recipe)"),
                     {"frame_id": frame_id, "run_id": run_id, "recipe": json.dumps(recipe, sort_keys=True)})
        if not frame.objects:
            return frame_id
        conn.execute(text(
            "INSERT INTO synthetic_objects (frame_id, x1, y1, x2, y2, class_name, source_annotation_id, mask_kind,"
            " occluded_fraction) VALUES (:frame_id, :x1, :y1, :x2, :y2, :class_name, :source, :mask_kind,"
            " :occluded)"),
            [{"frame_id": frame_id, **_corners(pasted.xyxy), "class_name": pasted.placement.obj.class_name,
              "source": pasted.placement.obj.annotation_id, "mask_kind": pasted.placement.obj.mask_kind,
              "occluded": round(pasted.occluded_fraction, 4)} for pasted in frame.objects],
        )
        if review:  # the reviewer needs boxes to judge: the constructed ones, offered as pre-labels
            names = conn.execute(text("SELECT class_names FROM models WHERE id = :id"), {"id": model_id}).scalar_one()
            class_names = json.loads(names)
            conn.execute(text(
                "INSERT INTO detections (frame_id, x1, y1, x2, y2, score, class_id, class_name, track_id)"
                " VALUES (:frame_id, :x1, :y1, :x2, :y2, :score, :class_id, :class_name, NULL)"),
                [{"frame_id": frame_id, **_corners(pasted.xyxy), "score": PRELABEL_SCORE,
                  "class_id": class_names.index(pasted.placement.obj.class_name)
                  if pasted.placement.obj.class_name in class_names else -1,
                  "class_name": pasted.placement.obj.class_name} for pasted in frame.objects],
            )
    return frame_id


def _corners(xyxy) -> dict:
    x1, y1, x2, y2 = xyxy
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
