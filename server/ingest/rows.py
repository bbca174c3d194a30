"""The rows a frame becomes, and the statements of ingest (built once; the per-frame ones are
:class:`~server.db.hot_path.HotStatement`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import text

from edge.contract.wire import NO_TRACK, FrameHeader, Labels
from server.db import sql
from server.db.hot_path import HotStatement
from server.frame_source import FrameSource

FRAME_COLUMNS = ("device", "seq", "capture_ts", "source_ts", "frame_index", "received_at", "width", "height",
                 "model_id", "media_sha256", "media_bytes", "phash", "reasons", "priority",
                 "status", "review_priority", "priority_factors", "source_file", "source_image_id", "redactions")
INSERT_FRAME = HotStatement(f"INSERT INTO frames ({', '.join(FRAME_COLUMNS)})"
                            f" VALUES ({', '.join(':' + name for name in FRAME_COLUMNS)}) RETURNING id")
INSERT_DETECTION = HotStatement(
    "INSERT INTO detections (frame_id, x1, y1, x2, y2, score, class_id, class_name, track_id)"
    " VALUES (:frame_id, :x1, :y1, :x2, :y2, :score, :class_id, :class_name, :track_id)")
STORED_SEQS = sql("SELECT seq FROM frames WHERE device = :device AND seq IN :seqs", "seqs")
UPSERT_MODEL = text("INSERT INTO models (id, class_names) VALUES (:id, :class_names)"
                    " ON CONFLICT (id) DO UPDATE SET class_names = excluded.class_names")
TOUCH_DEVICE = text("INSERT INTO devices (name, first_seen, last_seen, frames_stored) VALUES (:name, :now, :now, 0)"
                    " ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen")
COUNT_STORED = text("UPDATE devices SET frames_stored = frames_stored + :count WHERE name = :name")
UPSERT_STATUS = text(
    "INSERT INTO device_status (device, received_at, device_ts, model_id, counters)"
    " VALUES (:device, :received_at, :device_ts, :model_id, :counters)"
    " ON CONFLICT (device) DO UPDATE SET received_at = excluded.received_at, device_ts = excluded.device_ts,"
    " model_id = excluded.model_id, counters = excluded.counters")


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


def frame_values(header: FrameHeader, media_sha256: str, media_bytes: int, received_at: float, status: str,
                 review_priority: float, priority_factors: dict, source: FrameSource | None = None) -> dict:
    """One ``frames`` row for :data:`INSERT_FRAME`; ``source``: the file an imported frame came from."""
    return {"device": header.device, "seq": header.seq, "capture_ts": header.capture_ts,
            "source_ts": header.source_ts, "frame_index": header.frame_index, "received_at": received_at,
            "width": header.width, "height": header.height, "model_id": header.model_id,
            "media_sha256": media_sha256, "media_bytes": media_bytes, "phash": header.phash,
            "reasons": json.dumps(list(header.reasons)), "priority": header.priority, "status": status,
            "review_priority": review_priority, "priority_factors": json.dumps(priority_factors, sort_keys=True),
            "source_file": None if source is None else source.file_name,
            "source_image_id": None if source is None else source.image_id,
            # What the edge redacted in the pixels; NULL when it redacted nothing.
            "redactions": json.dumps(dict(header.redactions)) if header.redactions else None}


def detection_values(frame_id: int, header: FrameHeader) -> list[dict]:
    labels = header.labels
    return [
        {"frame_id": frame_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "score": score, "class_id": class_id,
         "class_name": header.class_names[class_id],
         "track_id": None if track_id == NO_TRACK else track_id}  # NULL: no tracker assigned one
        for (x1, y1, x2, y2), score, class_id, track_id in zip(
            labels.xyxy, labels.score, labels.class_id, labels.track_id, strict=True
        )
    ]


def stored_header(row: dict, detections: list[dict], class_names: list[str]) -> FrameHeader:
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
