"""How a model's pre-labels fared in review: the one definition ``models list``, ``stats`` and the
dashboard ("Models in the field") share.

A pre-label is a box the agent sent with a frame (a ``detections`` row; the frame's ``model_id``
names the model that drew it). Only frames from devices count: imported frames (``source_file``)
and synthetic ones were not pre-labeled by a model on a device. On a verified frame (accepted or
corrected; a rejected frame is an unusable picture and says nothing about its boxes) each
pre-label is

* kept unchanged: an annotation with ``source = 'model'`` points at it (same class and track,
  corners within a rounding; :mod:`server.review.annotations` decides);
* changed: only ``human`` annotations point at it (moved, resized or relabeled);
* deleted: no annotation points at it;

and a ``human`` annotation pointing at no pre-label is a box the model missed (added).

**Precision as reviewers measured it** = pre-labels kept unchanged / pre-labels on verified frames.
**Correction rate** = verified frames whose annotations are not exactly their pre-labels, each
once (what :func:`server.review.annotations.same_as_model` calls accepted as it was) / verified frames.

:func:`field_rows` reads a device's frames in capture order and cuts them where the model changes,
so a rollout (or a rollback) is two consecutive rows of that device, the later one with its change
against the earlier.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from edge.contract.wire import weights_id
from server.frames.state import VERIFIED_STATUSES

KEPT_UNCHANGED = ("EXISTS (SELECT 1 FROM annotations a WHERE a.frame_id = d.frame_id AND a.detection_id = d.id"
                  " AND a.source = 'model')")
"""SQL: pre-label ``d`` (a detections row) was kept as the model drew it. ``a.frame_id`` lets the
annotations' frame index answer (``detection_id`` has none)."""
FROM_DEVICE = ("f.source_file IS NULL"
               " AND NOT EXISTS (SELECT 1 FROM synthetic_frames s WHERE s.frame_id = f.id)")
"""SQL: frame ``f`` came from a device, pre-labeled by the model it names."""

_VERIFIED = "(" + ", ".join(f"'{status}'" for status in VERIFIED_STATUSES) + ")"
_REFERENCED = "EXISTS (SELECT 1 FROM annotations a WHERE a.frame_id = d.frame_id AND a.detection_id = d.id)"
_PER_FRAME_COUNTS = {
    "verified_frames": "1",
    "prelabel_boxes": "SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id",
    "kept_unchanged": f"SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id AND {KEPT_UNCHANGED}",
    "changed_boxes": f"SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id AND NOT {KEPT_UNCHANGED}"
                     f" AND {_REFERENCED}",
    "added_boxes": "SELECT COUNT(*) FROM annotations a WHERE a.frame_id = f.id AND a.detection_id IS NULL",
    # Not exactly its pre-labels, each once: a pre-label not kept, or more annotations than pre-labels kept.
    "corrected_frames": f"CASE WHEN EXISTS (SELECT 1 FROM detections d WHERE d.frame_id = f.id AND NOT {KEPT_UNCHANGED})"
                        " OR (SELECT COUNT(*) FROM annotations a WHERE a.frame_id = f.id)"
                        f" > (SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id AND {KEPT_UNCHANGED})"
                        " THEN 1 ELSE 0 END",
}
_KEYS = tuple(_PER_FRAME_COUNTS)
# Each count is its own column, used once: SQLite inlines this subquery into the query around it, and
# a column used twice would run its subqueries twice. A frame that is not verified counts 0.
_PER_FRAME = ("SELECT f.id, f.device, f.model_id, f.capture_ts, f.seq, f.status, "
              + ", ".join(f"CASE WHEN f.status IN {_VERIFIED} THEN ({expression}) ELSE 0 END AS {key}"
                          for key, expression in _PER_FRAME_COUNTS.items())
              + f" FROM frames f WHERE {FROM_DEVICE}")
"""One row per device frame: its pre-labels and what the reviewers did with them (0 unless verified)."""
_SUMS = ", ".join(f"SUM({key})" for key in _KEYS)

_PER_MODEL = (f"SELECT device, model_id, {_SUMS} FROM ({_PER_FRAME} AND f.status IN {_VERIFIED}) AS c"
              " GROUP BY device, model_id ORDER BY device, model_id")

_RUNS = f"""
    WITH ordered AS (
        SELECT c.*, CASE WHEN c.model_id = LAG(c.model_id) OVER (PARTITION BY c.device ORDER BY c.capture_ts, c.seq)
            THEN 0 ELSE 1 END AS starts
        FROM ({_PER_FRAME}) AS c),
    runs AS (
        SELECT ordered.*,
            SUM(starts) OVER (PARTITION BY device ORDER BY capture_ts, seq ROWS UNBOUNDED PRECEDING) AS run
        FROM ordered)
    SELECT device, run, model_id, MIN(capture_ts), MAX(capture_ts), COUNT(*),
        SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), {_SUMS}
    FROM runs GROUP BY device, run, model_id ORDER BY device, run"""
"""Runs: a device's frames in capture order, numbered by how many times the model id changed before them."""


def _counts(sums) -> dict:
    # int(): PostgreSQL sums integers as NUMERIC.
    counts = {key: int(value or 0) for key, value in zip(_KEYS, sums)}
    counts["deleted_boxes"] = counts["prelabel_boxes"] - counts["kept_unchanged"] - counts["changed_boxes"]
    return counts


def _ratios(row: dict) -> dict:
    row["precision"] = row["kept_unchanged"] / row["prelabel_boxes"] if row["prelabel_boxes"] else None
    row["correction_rate"] = row["corrected_frames"] / row["verified_frames"] if row["verified_frames"] else None
    return row


def reviewed_prelabels(conn: Connection) -> list[dict]:
    """Per device and model id (with its runtime, as frames carry it), devices' frames with a
    verified review only: the counts of the module's definition with ``precision`` and
    ``correction_rate`` (None without boxes or frames)."""
    return [_ratios({"device": device, "model_id": model_id, **_counts(sums)})
            for device, model_id, *sums in conn.execute(text(_PER_MODEL))]


def field_rows(conn: Connection) -> list[dict]:
    """Models in the field: per device, in capture order, one row per stretch of frames one model
    (weights id, :func:`edge.contract.wire.weights_id`) pre-labeled, with first and last capture
    time, frames stored, verified and rejected frames, the box counts, precision and correction
    rate, and ``change``: those two against the device's previous row (None on its first row, or
    where either side has nothing reviewed)."""
    rows: list[dict] = []
    for device, _run, model_id, first, last, frames, rejected, *sums in conn.execute(text(_RUNS)):
        counts = _counts(sums)
        previous = rows[-1] if rows and rows[-1]["device"] == device else None
        if previous is not None and previous["model_id"] == weights_id(model_id):
            # The same weights under another runtime (an OpenVINO build of it): one stretch.
            previous.update(last_capture_ts=last, frames=previous["frames"] + frames,
                            rejected_frames=previous["rejected_frames"] + int(rejected))
            previous.update({k: previous[k] + v for k, v in counts.items()})
            if model_id not in previous["model_ids"]:
                previous["model_ids"].append(model_id)
            _ratios(previous)
            continue
        rows.append(_ratios({"device": device, "model_id": weights_id(model_id), "model_ids": [model_id],
                             "first_capture_ts": first, "last_capture_ts": last, "frames": frames,
                             "rejected_frames": int(rejected), **counts}))
    for index, row in enumerate(rows):
        previous = rows[index - 1] if index and rows[index - 1]["device"] == row["device"] else None
        row["change"] = None if previous is None else {
            "previous_model_id": previous["model_id"],
            **{key: None if row[key] is None or previous[key] is None else row[key] - previous[key]
               for key in ("precision", "correction_rate")}}
    return rows
