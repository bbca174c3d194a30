"""A reviewer's boxes, checked and turned into ``annotations`` rows.

A submitted box is a JSON object ``{"x1", "y1", "x2", "y2", "class_name"}`` in pixel ``xyxy`` of
the full frame, with optional ``track_id`` (integer or null) and ``detection_id`` (the model box it
was made from, or null for a box the reviewer drew). A box that names a detection and repeats it
unchanged (same class and track, corners within :data:`UNCHANGED_PX`) keeps ``source = 'model'``;
any other is ``source = 'human'``.

With a class taxonomy (:mod:`server.taxonomy`), a box's class is stored as the class its name
resolves to (an alias becomes its class); a name outside the taxonomy is refused, unless the box
keeps an unmapped pre-label's class as the model named it.
"""

from __future__ import annotations

import math

from edge.contract.limits import MAX_BOXES, MAX_NAME_CHARS
from server.errors import SubmissionError
from server.frames.state import Annotation
from server.taxonomy.model import Taxonomy

UNCHANGED_PX = 0.5
"""Corners may move this much (rounding in a UI) and the box still counts as the model's."""


def from_detections(detections: list[dict]) -> list[Annotation]:
    """The model's boxes accepted as they are."""
    return [
        Annotation(d["x1"], d["y1"], d["x2"], d["y2"], d["class_name"], d["track_id"], "model", d["id"])
        for d in detections
    ]


def parse_boxes(boxes: object, width: int, height: int, detections: list[dict],
                taxonomy: Taxonomy | None = None) -> list[Annotation]:
    """Check submitted boxes against the frame (size, its detections, under their project class
    names) and the taxonomy; raises :class:`SubmissionError`."""
    if not isinstance(boxes, list):
        raise SubmissionError(f"'annotations' must be a list of boxes, got {type(boxes).__name__}")
    if len(boxes) > MAX_BOXES:
        raise SubmissionError(f"{len(boxes)} boxes, limit {MAX_BOXES}")
    by_id = {d["id"]: d for d in detections}
    return [_parse_box(i, box, width, height, by_id, taxonomy or Taxonomy()) for i, box in enumerate(boxes)]


def same_as_model(annotations: list[Annotation], detections: list[dict]) -> bool:
    """True when the boxes are exactly the model's, each once: the frame was accepted as it was."""
    used = [a.detection_id for a in annotations if a.source == "model"]
    return len(used) == len(annotations) == len(detections) and set(used) == {d["id"] for d in detections}


def _parse_box(index: int, box: object, width: int, height: int, detections: dict[int, dict],
               taxonomy: Taxonomy) -> Annotation:
    if not isinstance(box, dict):
        raise SubmissionError(f"box {index}: expected an object with x1, y1, x2, y2, class_name")
    unknown = sorted(set(box) - {"x1", "y1", "x2", "y2", "class_name", "track_id", "detection_id"})
    if unknown:
        raise SubmissionError(f"box {index}: unknown fields {', '.join(unknown)}")
    corners = []
    for key in ("x1", "y1", "x2", "y2"):
        value = box.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SubmissionError(f"box {index}: '{key}' must be a finite number, got {value!r}")
        corners.append(float(value))
    x1, y1, x2, y2 = corners
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise SubmissionError(f"box {index}: xyxy {corners} is empty or outside the {width}x{height} image")
    class_name = box.get("class_name")
    if not (isinstance(class_name, str) and 0 < len(class_name) <= MAX_NAME_CHARS and class_name.isprintable()):
        raise SubmissionError(f"box {index}: 'class_name' must be a printable string of 1..{MAX_NAME_CHARS} characters")
    track_id = _optional_int(index, box, "track_id")
    detection_id = _optional_int(index, box, "detection_id")
    if detection_id is not None and detection_id not in detections:
        raise SubmissionError(f"box {index}: detection {detection_id} is not one of this frame's boxes")
    kept = detections[detection_id]["class_name"] if detection_id is not None else None
    try:
        class_name = taxonomy.submitted_class(class_name, kept)
    except SubmissionError as exc:
        raise SubmissionError(f"box {index}: {exc}") from None
    source = "human"
    if detection_id is not None:
        model = detections[detection_id]
        unchanged = (
            model["class_name"] == class_name
            and model["track_id"] == track_id
            and all(abs(model[k] - v) <= UNCHANGED_PX for k, v in zip(("x1", "y1", "x2", "y2"), corners))
        )
        source = "model" if unchanged else "human"
    return Annotation(x1, y1, x2, y2, class_name, track_id, source, detection_id)


def _optional_int(index: int, box: dict, key: str) -> int | None:
    value = box.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise SubmissionError(f"box {index}: '{key}' must be an integer or null, got {value!r}")
    return value


def decide(decision: str, annotations: object, width: int, height: int,
           detections: list[dict], taxonomy: Taxonomy | None = None) -> tuple[str, list[Annotation]]:
    """A reviewer's decision and boxes as (status, boxes): ``accept`` takes the model's boxes,
    ``correct`` the submitted ones (``accepted`` when they repeat the model's), ``reject`` none
    (``detections`` under their project class names, see :func:`server.taxonomy.queries.detections_of`)."""
    if decision == "accept":
        return "accepted", from_detections(detections)
    if decision == "reject":
        if annotations is not None:
            raise SubmissionError("'annotations' go with decision 'correct', not 'reject'")
        return "rejected", []
    if decision == "correct":
        if annotations is None:
            raise SubmissionError("decision 'correct' needs 'annotations' (the corrected boxes)")
        boxes = parse_boxes(annotations, width, height, detections, taxonomy)
        return ("accepted" if same_as_model(boxes, detections) else "corrected"), boxes
    raise SubmissionError(f"decision: expected one of accept, correct, reject, got {decision!r}")
