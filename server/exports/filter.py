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

Frames with an open adjudication (two reviewers disagree, no admin has decided) are held back,
whatever the status, and counted (:attr:`ExportData.held_back`): their labels are not settled.

Everything is read in one snapshot of the database, ordered by frame id, so the same data gives
the same selection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from edge.contract.boxes import Box
from server.datadir import DataDir
from server.db import sql
from server.exports.errors import ExportError
from server.exports.naming import collector_stem, kept_where_unique, source_stem
from server.exports.writing import StoredImage
from server.frames.state import SYNTHETIC_STATUS, VERIFIED_STATUSES
from server.taxonomy.model import Taxonomy
from server.taxonomy.queries import load as load_taxonomy

STATUSES = ("verified", "all")
EXCLUDED_STATUSES = ("duplicate", "rejected")
_UNDECIDED = "id IN (SELECT frame_id FROM adjudications WHERE state = 'open')"
"""Frames whose two reviewers disagree and wait for an admin: their labels are not settled yet."""


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
    image: StoredImage
    """Where its JPEG is: the collector's media store and the content id."""
    stem: str
    """The frame's file name stem, unique in the export: its source file's where that is unique, else
    the collector's own (see :mod:`server.exports.naming`)."""
    image_id: int
    """The image's number in formats that number images (COCO): the source's COCO image id where that
    is unique, else the frame id."""
    source_file: str | None = None
    """The file an imported frame was read from (:mod:`server.frame_source`); None for the edge's frames."""
    synthetic: bool = False
    """Made by :mod:`server.synthetic`, not by the camera; its boxes are exact by construction."""

    @property
    def prelabel_model(self) -> str | None:
        """The model that pre-labeled the frame on its device (model id with runtime, as the device
        sent it); None for an imported or synthetic frame, which no device's model pre-labeled."""
        return None if self.source_file is not None or self.synthetic else self.model_id


@dataclass(frozen=True)
class ExportData:
    frames: tuple[ExportFrame, ...]
    class_names: tuple[str, ...]
    """Class list of the export: the project's classes in their order when the collector has a
    taxonomy (:mod:`server.taxonomy`), else the models' classes in their order (so ids match the
    detector); then any other class a box carries, by name. With a class filter, only those classes."""

    held_back: int = 0
    """Frames the selection matched but left out: two reviewers disagree on them and no admin has
    decided yet (an open adjudication). They come in once decided, with the admin's labels."""

    def part(self, synthetic: bool) -> ExportData:
        """The real (``synthetic=False``) or synthetic frames only, with the same class list."""
        return ExportData(tuple(frame for frame in self.frames if frame.synthetic == synthetic), self.class_names,
                          self.held_back)


def select(store: DataDir, selection: Selection) -> ExportData:
    """The frames (oldest id first) and class list of an export, from one snapshot of ``store``."""
    matched, params = _where(selection)
    where = f"{matched} AND NOT {_UNDECIDED}"
    lists = [name for name, value in params.items() if isinstance(value, tuple)]
    with store.db.read("read the frames to export") as conn:
        held_back = conn.execute(sql(f"SELECT COUNT(*) FROM frames WHERE {matched} AND {_UNDECIDED}", *lists),
                                 params).scalar_one()
        rows = conn.execute(sql(
            "SELECT id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, media_sha256, status,"
            " CASE WHEN id IN (SELECT frame_id FROM synthetic_frames) THEN 1 ELSE 0 END, source_file, source_image_id"
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
    kept = []
    for row in rows:
        frame_boxes = boxes.get(row[0], ())
        if wanted:
            frame_boxes = tuple(box for box in frame_boxes if box.class_name in wanted)
            if not frame_boxes:
                continue
        kept.append((row, tuple(frame_boxes)))
    own_stems = {row[0]: collector_stem(row[1], row[2], bool(row[11])) for row, _ in kept}
    stems = kept_where_unique({row[0]: source_stem(row[12]) for row, _ in kept}, own_stems, key=str.casefold)
    image_ids = kept_where_unique({row[0]: row[13] for row, _ in kept}, {row[0]: row[0] for row, _ in kept})
    frames = []
    for (frame_id, device, seq, capture_ts, source_ts, frame_index, width, height, model_id, sha256, status, synthetic,
         source_file, _), frame_boxes in kept:
        frames.append(ExportFrame(
            frame_id=frame_id, device=device, seq=seq, capture_ts=capture_ts, source_ts=source_ts,
            frame_index=frame_index, width=width, height=height, model_id=model_id, status=status,
            verified=status in VERIFIED_STATUSES, boxes=frame_boxes, image=StoredImage(store.media, sha256),
            stem=stems[frame_id], image_id=image_ids[frame_id], source_file=source_file, synthetic=bool(synthetic),
        ))
    first_classes = [taxonomy.class_names()] if not taxonomy.empty else model_classes
    return ExportData(tuple(frames), _class_names(first_classes, frames, wanted_classes), held_back)


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
