"""Which frames and boxes an export holds: the shared filter of every format.

``--status verified`` takes accepted and corrected frames with their verified ``annotations``;
``--status all`` takes every frame that is neither a duplicate nor rejected, with annotations
where a reviewer verified it and the model's ``detections`` (pre-labels, with scores) otherwise.
Each :class:`ExportFrame` says which of the two its boxes are (``verified``).

Everything is read in one snapshot of the database, ordered by frame id, so the same data gives
the same selection.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from server.exports.boxes import Box
from server.exports.errors import ExportError
from server.store import Store

STATUSES = ("verified", "all")
VERIFIED_STATUSES = ("accepted", "corrected")
EXCLUDED_STATUSES = ("duplicate", "rejected")


@dataclass(frozen=True)
class Selection:
    """Filters of an export; an empty tuple or None means no filter on that field."""

    status: str = "verified"
    devices: tuple[str, ...] = ()
    since: float | None = None
    """Unix seconds, inclusive, on the capture time."""
    until: float | None = None
    """Unix seconds, exclusive."""
    classes: tuple[str, ...] = ()
    """Keep only boxes of these classes, and only frames with at least one of them."""
    model_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ExportError(f"status: expected one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ExportError(f"time range: --until ({self.until}) must be after --since ({self.since})")


@dataclass(frozen=True)
class ExportBox:
    xyxy: Box
    class_name: str
    track_id: int | None
    score: float | None
    """The model's score for a pre-label; None for a verified box."""


@dataclass(frozen=True)
class ExportFrame:
    frame_id: int
    device: str
    seq: int
    capture_ts: float
    source_ts: float
    frame_index: int
    width: int
    height: int
    model_id: str
    status: str
    verified: bool
    """True: ``boxes`` are a reviewer's (annotations); False: the model's pre-labels (detections)."""
    boxes: tuple[ExportBox, ...]
    image_path: Path

    @property
    def stem(self) -> str:
        """A file name stem unique in the export: the device (made file-safe) and the sequence number."""
        return f"{safe_name(self.device)}-{self.seq:08d}"


@dataclass(frozen=True)
class ExportData:
    frames: tuple[ExportFrame, ...]
    class_names: tuple[str, ...]
    """Class list of the export: the models' classes in their order (so ids match the detector),
    then any other annotated class, by name; with a class filter, only those classes."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` as a file name; a name that had to change gets a short digest so two never collide."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "device"
    if cleaned == name:
        return name
    return f"{cleaned}~{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def select(store: Store, selection: Selection) -> ExportData:
    """The frames (oldest id first) and class list of an export, from one snapshot of ``store``."""
    conn = store.db.conn
    where, params = _where(selection)
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            "SELECT id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, media_sha256, status"
            f" FROM frames WHERE {where} ORDER BY id", params,
        ).fetchall()
        verified_ids = [row[0] for row in rows if row[10] in VERIFIED_STATUSES]
        other_ids = [row[0] for row in rows if row[10] not in VERIFIED_STATUSES]
        boxes = {**_annotations(conn, verified_ids), **_detections(conn, other_ids)}
        model_classes = [
            json.loads(names) for (names,) in conn.execute(
                f"SELECT class_names FROM models WHERE id IN (SELECT DISTINCT model_id FROM frames WHERE {where})"
                " ORDER BY id", params)
        ]
    finally:
        conn.execute("ROLLBACK")
    wanted = set(selection.classes)
    frames = []
    for frame_id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, sha256, status in rows:
        frame_boxes = boxes.get(frame_id, ())
        if wanted:
            frame_boxes = tuple(box for box in frame_boxes if box.class_name in wanted)
            if not frame_boxes:
                continue
        frames.append(ExportFrame(
            frame_id=frame_id, device=device, seq=seq, capture_ts=capture_ts, source_ts=source_ts,
            frame_index=frame_index, width=width, height=height, model_id=model_id, status=status,
            verified=status in VERIFIED_STATUSES, boxes=tuple(frame_boxes), image_path=store.media.path_for(sha256),
        ))
    return ExportData(tuple(frames), _class_names(model_classes, frames, selection.classes))


def _where(selection: Selection) -> tuple[str, list]:
    statuses = VERIFIED_STATUSES if selection.status == "verified" else EXCLUDED_STATUSES
    clauses = [f"status {'IN' if selection.status == 'verified' else 'NOT IN'} ({', '.join('?' * len(statuses))})"]
    params: list = list(statuses)
    for column, values in (("device", selection.devices), ("model_id", selection.model_ids)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if selection.since is not None:
        clauses.append("capture_ts >= ?")
        params.append(selection.since)
    if selection.until is not None:
        clauses.append("capture_ts < ?")
        params.append(selection.until)
    return " AND ".join(clauses), params


def _annotations(conn, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    return _boxes(conn, "SELECT frame_id, x1, y1, x2, y2, class_name, track_id, NULL FROM annotations", frame_ids)


def _detections(conn, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    return _boxes(conn, "SELECT frame_id, x1, y1, x2, y2, class_name, track_id, score FROM detections", frame_ids)


_CHUNK = 900  # stays under SQLite's limit on bound parameters


def _boxes(conn, select_sql: str, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    by_frame: dict[int, list[ExportBox]] = {}
    for start in range(0, len(frame_ids), _CHUNK):
        chunk = frame_ids[start:start + _CHUNK]
        for frame_id, x1, y1, x2, y2, class_name, track_id, score in conn.execute(
            f"{select_sql} WHERE frame_id IN ({', '.join('?' * len(chunk))}) ORDER BY frame_id, id", chunk
        ):
            by_frame.setdefault(frame_id, []).append(ExportBox((x1, y1, x2, y2), class_name, track_id, score))
    return {frame_id: tuple(boxes) for frame_id, boxes in by_frame.items()}


def _class_names(model_classes: list[list[str]], frames: list[ExportFrame], wanted: tuple[str, ...]) -> tuple[str, ...]:
    names = list(dict.fromkeys(name for names in model_classes for name in names))
    used = {box.class_name for frame in frames for box in frame.boxes}
    names += sorted(used - set(names))
    if wanted:
        names = [name for name in names if name in wanted] + sorted(set(wanted) - set(names))
    return tuple(names)
