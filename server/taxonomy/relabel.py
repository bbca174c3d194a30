"""Bring labels stored before the taxonomy (or before its last change) to the project's class names.

Labels keep the class name they were stored with. After a taxonomy is imported or changed,
``edgelabel-collector classes apply`` renames every stored label whose name is not a class yet:

* a name that resolves (an alias, or a class's name in another case) becomes its class;
* otherwise the name is read as the frame's model's class name and takes its project class when
  the model's class maps (``classes map``): a label accepted as the model said it, before the
  mapping existed, carries the model's name.

Names that resolve to nothing are left as they are and reported, so nothing is guessed. Renamed are
the verified ``annotations``, the labels of blind reviews (``reviews``, so a first review waiting
for its second is compared in the same names) and of gold frames (``gold_frames``, which answers
are scored against), the classes fixed on whole tracks (``track_verdicts``) and synthetic frames'
boxes (``synthetic_objects``). Each frame whose annotations changed gets a ``relabel`` review
event listing its renames (both written by :mod:`server.frames.state`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from server.frames import state
from server.taxonomy.model import Taxonomy


@dataclass
class RelabelReport:
    renamed: Counter = field(default_factory=Counter)
    """(table, old name, new name) -> labels renamed."""
    unresolved: Counter = field(default_factory=Counter)
    """Names outside the taxonomy that nothing maps -> labels carrying them (annotations only)."""
    frames: int = 0
    """Frames whose annotations changed."""

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "renamed": [{"table": table, "from": old, "to": new, "labels": count}
                        for (table, old, new), count in sorted(self.renamed.items())],
            "unresolved": dict(sorted(self.unresolved.items())),
        }


def relabel(conn: Connection, taxonomy: Taxonomy, user: str, now: float) -> RelabelReport:
    """Rename stored labels to the taxonomy's classes (see the module docstring), in the caller's
    transaction; roll it back for a dry run. An empty taxonomy renames nothing."""
    report = RelabelReport()
    if taxonomy.empty:
        return report
    renamer = _Renamer(taxonomy, dict(conn.execute(text("SELECT id, model_id FROM frames")).all()))
    _annotations(conn, renamer, report, user, now)
    _json_labels(conn, renamer, report, "reviews", "id")
    _json_labels(conn, renamer, report, "gold_frames", "frame_id")
    _track_verdicts(conn, renamer, report)
    _synthetic_objects(conn, renamer, report)
    return report


class _Renamer:
    def __init__(self, taxonomy: Taxonomy, model_of_frame: dict[int, str]):
        self.taxonomy = taxonomy
        self.model_of_frame = model_of_frame
        self.classes = set(taxonomy.class_names())

    def __call__(self, name: str, frame_id: int | None) -> str | None:
        """The class ``name`` should be stored as, or None when it is already right or nothing maps it."""
        if name in self.classes:
            return None
        resolved = self.taxonomy.resolve(name)
        if resolved is None and frame_id is not None and frame_id in self.model_of_frame:
            project, how = self.taxonomy.project_class(self.model_of_frame[frame_id], name)
            resolved = project if how is not None else None
        return resolved


def _annotations(conn, renamer: _Renamer, report: RelabelReport, user: str, now: float) -> None:
    changes: dict[int, Counter] = {}
    updates = []
    for annotation_id, frame_id, name in conn.execute(text("SELECT id, frame_id, class_name FROM annotations")):
        new = renamer(name, frame_id)
        if new is None:
            if name not in renamer.classes:
                report.unresolved[name] += 1
            continue
        updates.append((annotation_id, new))
        report.renamed[("annotations", name, new)] += 1
        changes.setdefault(frame_id, Counter())[f"{name} -> {new}"] += 1
    state.rename_annotation_classes(conn, updates, {frame_id: dict(renamed) for frame_id, renamed in changes.items()},
                                    user, now)
    report.frames = len(changes)


def _json_labels(conn, renamer: _Renamer, report: RelabelReport, table: str, key: str) -> None:
    """Labels stored as a JSON list of boxes with ``class_name`` (one row per frame or review)."""
    updates = []
    for row_key, frame_id, labels in conn.execute(text(f"SELECT {key}, frame_id, labels FROM {table}")):
        boxes = json.loads(labels)
        changed = False
        for box in boxes:
            new = renamer(box["class_name"], frame_id)
            if new is not None:
                report.renamed[(table, box["class_name"], new)] += 1
                box["class_name"], changed = new, True
        if changed:
            updates.append({"labels": json.dumps(boxes), "key": row_key})
    if updates:
        conn.execute(text(f"UPDATE {table} SET labels = :labels WHERE {key} = :key"), updates)


def _track_verdicts(conn, renamer: _Renamer, report: RelabelReport) -> None:
    updates = []
    for device, track_id, name in conn.execute(text(
            "SELECT device, track_id, class_name FROM track_verdicts WHERE class_name IS NOT NULL")):
        new = renamer(name, None)  # a class a reviewer typed for the track: aliases only
        if new is not None:
            report.renamed[("track_verdicts", name, new)] += 1
            updates.append({"class_name": new, "device": device, "track_id": track_id})
    if updates:
        conn.execute(text("UPDATE track_verdicts SET class_name = :class_name WHERE device = :device"
                          " AND track_id = :track_id"), updates)


def _synthetic_objects(conn, renamer: _Renamer, report: RelabelReport) -> None:
    updates = []
    for object_id, frame_id, name in conn.execute(text("SELECT id, frame_id, class_name FROM synthetic_objects")):
        new = renamer(name, frame_id)
        if new is not None:
            report.renamed[("synthetic_objects", name, new)] += 1
            updates.append({"class_name": new, "id": object_id})
    if updates:
        conn.execute(text("UPDATE synthetic_objects SET class_name = :class_name WHERE id = :id"), updates)
