"""Which frames and boxes an export holds: the shared filter of every format.

``--status verified`` takes accepted and corrected frames with their verified ``annotations``;
``--status all`` takes every frame that is neither a duplicate nor rejected, with annotations
where a reviewer verified it and the model's ``detections`` (pre-labels, with scores) otherwise.
Each :class:`ExportFrame` says which of the two its boxes are (``verified``). With a class
taxonomy (:mod:`server.taxonomy`), pre-labels carry their project class, as reviewers see them,
and the taxonomy's classes lead the class list.

Synthetic frames (:mod:`server.synthetic`, marked by a ``synthetic_frames`` row whatever their
status) are left out unless ``include_synthetic``; then those not rejected come in with
``synthetic`` set and the boxes they were built with (``synthetic_objects``), or a reviewer's
``annotations`` once one accepted or corrected them. A synthetic frame queued for review and not
reviewed yet counts as a pre-labeled frame: it comes in only with ``--status all``.

Everything is read in one snapshot of the database, ordered by frame id, so the same data gives
the same selection.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection

from server.datadir import DataDir
from server.db import sql
from server.exports.boxes import Box
from server.exports.errors import ExportError
from server.frames.state import SYNTHETIC_STATUS, VERIFIED_STATUSES
from server.taxonomy.model import Taxonomy
from server.taxonomy.queries import load as load_taxonomy

STATUSES = ("verified", "all")
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
    include_synthetic: bool = False
    """Add synthetic frames (exports write them as their own split, ``synthetic``)."""

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
    synthetic: bool = False
    """Made by :mod:`server.synthetic`, not by the camera; its boxes are exact by construction."""

    @property
    def stem(self) -> str:
        """A file name stem unique in the export: the device (made file-safe) and the sequence number
        (counted down from -1 for synthetic frames, written as ``synthetic-<n>``)."""
        if self.synthetic:
            return f"{safe_name(self.device)}-synthetic-{-self.seq:08d}"
        return f"{safe_name(self.device)}-{self.seq:08d}"


@dataclass(frozen=True)
class ExportData:
    frames: tuple[ExportFrame, ...]
    class_names: tuple[str, ...]
    """Class list of the export: the project's classes in their order when the collector has a
    taxonomy (:mod:`server.taxonomy`), else the models' classes in their order (so ids match the
    detector); then any other class a box carries, by name. With a class filter, only those classes."""

    def part(self, synthetic: bool) -> ExportData:
        """The real (``synthetic=False``) or synthetic frames only, with the same class list."""
        return ExportData(tuple(frame for frame in self.frames if frame.synthetic == synthetic), self.class_names)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` as a file name; a name that had to change gets a short digest so two never collide."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "device"
    if cleaned == name:
        return name
    return f"{cleaned}~{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def select(store: DataDir, selection: Selection) -> ExportData:
    """The frames (oldest id first) and class list of an export, from one snapshot of ``store``."""
    where, params = _where(selection)
    lists = [name for name, value in params.items() if isinstance(value, tuple)]
    with store.db.read("read the frames to export") as conn:
        rows = conn.execute(sql(
            "SELECT id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, media_sha256, status,"
            " CASE WHEN id IN (SELECT frame_id FROM synthetic_frames) THEN 1 ELSE 0 END"
            f" FROM frames WHERE {where} ORDER BY id", *lists), params,
        ).all()
        verified_ids = [row[0] for row in rows if row[10] in VERIFIED_STATUSES]
        constructed_ids = [row[0] for row in rows if row[11] and row[10] not in VERIFIED_STATUSES]
        other_ids = [row[0] for row in rows if not row[11] and row[10] not in VERIFIED_STATUSES]
        taxonomy = load_taxonomy(conn)
        model_of = {row[0]: row[8] for row in rows}
        boxes = {**_annotations(conn, verified_ids), **_prelabels(conn, other_ids, model_of, taxonomy),
                 **_synthetic_objects(conn, constructed_ids)}
        model_classes = [
            json.loads(names) for names in conn.execute(sql(
                f"SELECT class_names FROM models WHERE id IN (SELECT DISTINCT model_id FROM frames WHERE {where})"
                " ORDER BY id", *lists), params).scalars()
        ]
    # A class filter may name a class by an alias, like a reviewer may.
    wanted_classes = tuple(dict.fromkeys(taxonomy.resolve(name) or name for name in selection.classes))
    wanted = set(wanted_classes)
    frames = []
    for frame_id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, sha256, status, synthetic \
            in rows:
        frame_boxes = boxes.get(frame_id, ())
        if wanted:
            frame_boxes = tuple(box for box in frame_boxes if box.class_name in wanted)
            if not frame_boxes:
                continue
        frames.append(ExportFrame(
            frame_id=frame_id, device=device, seq=seq, capture_ts=capture_ts, source_ts=source_ts,
            frame_index=frame_index, width=width, height=height, model_id=model_id, status=status,
            verified=status in VERIFIED_STATUSES, boxes=tuple(frame_boxes), image_path=store.media.path_for(sha256),
            synthetic=bool(synthetic),
        ))
    first_classes = [taxonomy.class_names()] if not taxonomy.empty else model_classes
    return ExportData(tuple(frames), _class_names(first_classes, frames, wanted_classes))


def _where(selection: Selection) -> tuple[str, dict]:
    """The WHERE clause on ``frames`` and its parameters (a tuple value is a list for ``IN``)."""
    statuses = VERIFIED_STATUSES if selection.status == "verified" else EXCLUDED_STATUSES
    real = f"status {'IN' if selection.status == 'verified' else 'NOT IN'} :statuses"
    params: dict = {"statuses": tuple(statuses)}
    synthetic = "id IN (SELECT frame_id FROM synthetic_frames)"
    if selection.include_synthetic:
        # Unreviewed synthetic frames carry exact boxes; queued ones not reviewed yet count as pre-labeled.
        wanted = (*VERIFIED_STATUSES, SYNTHETIC_STATUS) if selection.status == "verified" else (
            *VERIFIED_STATUSES, SYNTHETIC_STATUS, "pending", "in_review")
        clauses = [f"(({real} AND NOT {synthetic}) OR ({synthetic} AND status IN :synthetic_statuses))"]
        params["synthetic_statuses"] = wanted
    else:
        clauses = [f"{real} AND NOT {synthetic}"]
    for column, values in (("device", selection.devices), ("model_id", selection.model_ids)):
        if values:
            clauses.append(f"{column} IN :{column}s")
            params[f"{column}s"] = tuple(values)
    if selection.since is not None:
        clauses.append("capture_ts >= :since")
        params["since"] = selection.since
    if selection.until is not None:
        clauses.append("capture_ts < :until")
        params["until"] = selection.until
    return " AND ".join(clauses), params


def _annotations(conn: Connection, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    return _boxes(conn, "SELECT frame_id, x1, y1, x2, y2, class_name, track_id, NULL FROM annotations", frame_ids)


def _detections(conn: Connection, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    return _boxes(conn, "SELECT frame_id, x1, y1, x2, y2, class_name, track_id, score FROM detections", frame_ids)


def _prelabels(conn: Connection, frame_ids: list[int], model_of: dict[int, str], taxonomy: Taxonomy
               ) -> dict[int, tuple[ExportBox, ...]]:
    """The model's boxes under project class names, as the review screen shows them (an unmapped
    model class keeps the model's name)."""
    boxes = _detections(conn, frame_ids)
    if taxonomy.empty:
        return boxes
    return {frame_id: tuple(replace(box, class_name=taxonomy.project_class(model_of[frame_id], box.class_name)[0])
                            for box in frame_boxes) for frame_id, frame_boxes in boxes.items()}


def _synthetic_objects(conn: Connection, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    return _boxes(conn, "SELECT frame_id, x1, y1, x2, y2, class_name, NULL, NULL FROM synthetic_objects", frame_ids)


_CHUNK = 900  # stays under SQLite's limit on bound parameters


def _boxes(conn: Connection, select_sql: str, frame_ids: list[int]) -> dict[int, tuple[ExportBox, ...]]:
    by_frame: dict[int, list[ExportBox]] = {}
    statement = sql(f"{select_sql} WHERE frame_id IN :ids ORDER BY frame_id, id", "ids")
    for start in range(0, len(frame_ids), _CHUNK):
        for frame_id, x1, y1, x2, y2, class_name, track_id, score in conn.execute(
            statement, {"ids": frame_ids[start:start + _CHUNK]}
        ):
            by_frame.setdefault(frame_id, []).append(ExportBox((x1, y1, x2, y2), class_name, track_id, score))
    return {frame_id: tuple(boxes) for frame_id, boxes in by_frame.items()}


def _class_names(first_classes: list[list[str]], frames: list[ExportFrame], wanted: tuple[str, ...]) -> tuple[str, ...]:
    names = list(dict.fromkeys(name for names in first_classes for name in names))
    used = {box.class_name for frame in frames for box in frame.boxes}
    names += sorted(used - set(names))
    if wanted:
        names = [name for name in names if name in wanted] + sorted(set(wanted) - set(names))
    return tuple(names)
