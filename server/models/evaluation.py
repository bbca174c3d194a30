"""``models evaluate``: a registered model's boxes on verified frames against the reviewers' boxes.

Verified frames are those a reviewer accepted or corrected (or imported as verified); their
``annotations`` are the reference. The model runs through the agent's own ``detect`` (see
:mod:`server.models.agent`) and its class names become project classes through the taxonomy's
model-class mapping, exactly as its pre-labels would on the review screen. With a taxonomy, a box
of a model class that maps to no project class is left out (counted in ``ignored_boxes``): no
reviewer was asked to label that class.

Scores, per project class and overall (the rules of :mod:`edge.contract.mean_ap`, pycocotools'):
AP at IoU 0.5 and COCO mAP@[.5:.95] over every box down to :data:`RANKING_THRESHOLD`, and
precision and recall at IoU 0.5 of the boxes a device would keep (score at or above the operating
threshold, the agent's default 0.3), where each kept box matches at most one reference box.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Connection

from edge.contract.mean_ap import (
    coco_mean_average_precision,
    match_greedy,
    mean_average_precision,
)
from server.datadir import DataDir
from server.db import sql
from server.exports.writing import MARKER as EXPORT_MARKER
from server.frames.state import VERIFIED_STATUSES
from server.models import ModelRegistryError
from server.models.agent import detect
from server.models.registry import RegisteredModel, get_model, write_model_file
from server.taxonomy.model import Taxonomy
from server.taxonomy.queries import load as load_taxonomy

OPERATING_THRESHOLD = 0.3
"""Score of the boxes precision and recall count: the agent's default ``--score-threshold``."""
RANKING_THRESHOLD = 0.01
"""Lowest score of the boxes AP ranks (a device never keeps boxes this weak, so AP reads the curve)."""
COCO_MAX_BOXES = 100
"""COCO caps each image's detections at 100 before its mAP."""
IOU_MATCH = 0.5


@dataclass(frozen=True)
class VerifiedFrame:
    id: int
    device: str
    capture_ts: float
    media_sha256: str
    width: int
    height: int
    boxes: tuple[tuple[tuple[float, float, float, float], str], ...]
    """The reviewers' boxes: (xyxy, project class)."""


@dataclass(frozen=True)
class Prediction:
    xyxy: tuple[float, float, float, float]
    score: float
    class_name: str
    """The project class the model's class maps to."""


@dataclass
class _Boxes:
    """What :mod:`edge.contract.mean_ap` reads of one image's boxes."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray


@dataclass(frozen=True)
class FrameCounts:
    tp: int
    fp: int
    fn: int

    @property
    def errors(self) -> int:
        return self.fp + self.fn


@dataclass
class ModelScore:
    """One model's scores on one set of verified frames."""

    model: str
    model_id: str
    per_class: dict[str, dict] = field(default_factory=dict)
    overall: dict = field(default_factory=dict)
    frames: dict[int, FrameCounts] = field(default_factory=dict)
    ignored_boxes: int = 0

    def to_json(self) -> dict:
        return {"model": self.model, "model_id": self.model_id, "overall": self.overall,
                "per_class": self.per_class, "ignored_boxes": self.ignored_boxes}


# --- which frames --------------------------------------------------------------------------------


def read_manifest(path: Path) -> set[int]:
    """Frame ids in ``path``: an export's directory or its ``.edgelabel-export.json`` (its
    ``frame_ids``), a JSON list of ids, a JSON object whose ``frames`` lists ids or objects with an
    ``id`` (or ``frame_id``), or a text file with one id per line."""
    path = Path(path)
    if path.is_dir():
        path = path / EXPORT_MARKER
    try:
        content = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelRegistryError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(content)
    except ValueError:
        doc = [line.strip() for line in content.splitlines() if line.strip() and not line.startswith("#")]
    if isinstance(doc, dict):
        doc = doc.get("frame_ids", doc.get("frames"))
    if not isinstance(doc, list):
        raise ModelRegistryError(f"manifest {path}: expected a list of frame ids or an object with 'frames'")
    ids = set()
    for item in doc:
        value = item.get("id", item.get("frame_id")) if isinstance(item, dict) else item
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            raise ModelRegistryError(f"manifest {path}: {value!r} is not a frame id") from None
    return ids


def verified_frames(conn: Connection, device: str | None = None, since: float | None = None,
                    exclude: Iterable[int] = ()) -> list[VerifiedFrame]:
    """Verified frames (oldest first) with their reviewers' boxes."""
    clauses = ["status IN :verified"]
    params: dict = {"verified": VERIFIED_STATUSES}
    if device is not None:
        clauses.append("device = :device")
        params["device"] = device
    if since is not None:
        clauses.append("capture_ts >= :since")
        params["since"] = since
    rows = conn.execute(sql("SELECT id, device, capture_ts, media_sha256, width, height FROM frames"
                            f" WHERE {' AND '.join(clauses)} ORDER BY id", "verified"), params).all()
    excluded = set(exclude)
    rows = [row for row in rows if row.id not in excluded]
    boxes: dict[int, list] = {}
    for start in range(0, len(rows), 500):
        ids = tuple(row.id for row in rows[start:start + 500])
        for a in conn.execute(sql("SELECT frame_id, x1, y1, x2, y2, class_name FROM annotations"
                                  " WHERE frame_id IN :ids ORDER BY id", "ids"), {"ids": ids}):
            boxes.setdefault(a.frame_id, []).append(((a.x1, a.y1, a.x2, a.y2), a.class_name))
    return [VerifiedFrame(row.id, row.device, row.capture_ts, row.media_sha256, row.width, row.height,
                          tuple(boxes.get(row.id, ()))) for row in rows]


# --- scoring -------------------------------------------------------------------------------------


def project_predictions(detections: list[dict], model_id: str, taxonomy: Taxonomy) -> tuple[list[Prediction], int]:
    """``detect --json`` boxes as project classes; and how many map to no project class (left out)."""
    kept, ignored = [], 0
    for box in detections:
        class_name, how = taxonomy.project_class(model_id, box["class_name"])
        if how is None:
            ignored += 1
            continue
        kept.append(Prediction(tuple(box["xyxy"]), float(box["score"]), class_name))
    return kept, ignored


def score_model(name: str, model_id: str, frames: list[VerifiedFrame], predictions: dict[int, list[Prediction]],
                classes: list[str], operating_threshold: float = OPERATING_THRESHOLD) -> ModelScore:
    """Per-class and overall precision, recall (at ``operating_threshold``), AP50 and COCO mAP."""
    index = {class_name: number for number, class_name in enumerate(classes)}
    references = [_as_boxes([(xyxy, 1.0, c) for xyxy, c in frame.boxes], index) for frame in frames]
    ranked = [sorted(predictions.get(frame.id, []), key=lambda p: -p.score) for frame in frames]
    coco = coco_mean_average_precision(
        [_as_boxes([(p.xyxy, p.score, p.class_name) for p in boxes[:COCO_MAX_BOXES]], index) for boxes in ranked],
        references)
    ap50 = mean_average_precision([_as_boxes([(p.xyxy, p.score, p.class_name) for p in boxes], index)
                                   for boxes in ranked], references, IOU_MATCH)
    score = ModelScore(name, model_id)
    totals = {c: [0, 0, 0] for c in classes}  # tp, fp, fn
    for frame, boxes in zip(frames, ranked):
        kept = [p for p in boxes if p.score >= operating_threshold]
        frame_tp = frame_fp = frame_fn = 0
        for class_name in classes:
            predicted = np.array([p.xyxy for p in kept if p.class_name == class_name], float).reshape(-1, 4)
            reference = np.array([xyxy for xyxy, c in frame.boxes if c == class_name], float).reshape(-1, 4)
            tp = int(match_greedy(predicted, reference, IOU_MATCH).sum())
            fp, fn = len(predicted) - tp, len(reference) - tp
            totals[class_name][0] += tp
            totals[class_name][1] += fp
            totals[class_name][2] += fn
            frame_tp, frame_fp, frame_fn = frame_tp + tp, frame_fp + fp, frame_fn + fn
        score.frames[frame.id] = FrameCounts(frame_tp, frame_fp, frame_fn)
    for class_name, (tp, fp, fn) in totals.items():
        number = index[class_name]
        score.per_class[class_name] = {
            "tp": tp, "fp": fp, "fn": fn, "reference_boxes": tp + fn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "ap50": ap50.per_class.get(number), "map": coco.per_class.get(number)}
    tp, fp, fn = (sum(values[k] for values in totals.values()) for k in range(3))
    score.overall = {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
                     "ap50": coco.ap50, "map": coco.map, "operating_threshold": operating_threshold}
    return score


def _as_boxes(rows: list, index: dict[str, int]) -> _Boxes:
    # A weak box of a class outside ``index`` (none labelled, none kept) only ranks in that class's
    # AP, which COCO leaves out for want of reference boxes.
    rows = [row for row in rows if row[2] in index]
    return _Boxes(np.array([r[0] for r in rows], float).reshape(-1, 4), np.array([r[1] for r in rows], float),
                  np.array([index[r[2]] for r in rows], int))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- the whole run -------------------------------------------------------------------------------


@dataclass
class Evaluation:
    frames: list[VerifiedFrame]
    classes: list[str]
    candidate: ModelScore
    baseline: ModelScore | None
    predictions: dict[str, dict[int, list[Prediction]]]
    """Model name -> frame id -> its boxes at the operating threshold (for the report's pictures)."""
    filters: dict

    def differing_frames(self, limit: int = 12) -> list[dict]:
        """Frames where candidate and baseline differ most (in errors: false positives plus misses);
        without a baseline, the frames the candidate gets most wrong."""
        rows = []
        for frame in self.frames:
            mine = self.candidate.frames[frame.id]
            other = self.baseline.frames[frame.id] if self.baseline else None
            rows.append({"frame_id": frame.id, "device": frame.device, "candidate": vars(mine).copy(),
                         "baseline": vars(other).copy() if other else None,
                         "difference": other.errors - mine.errors if other else -mine.errors})
        rows.sort(key=lambda row: (-abs(row["difference"]), row["frame_id"]))
        return [row for row in rows if row["difference"]][:limit]

    def to_json(self) -> dict:
        return {"frames": len(self.frames), "filters": self.filters, "classes": self.classes,
                "candidate": self.candidate.to_json(),
                "baseline": self.baseline.to_json() if self.baseline else None,
                "differing_frames": self.differing_frames()}


def evaluate(store: DataDir, name: str, baseline: str | None = None, device: str | None = None,
             since: float | None = None, exclude: Iterable[int] = (),
             operating_threshold: float = OPERATING_THRESHOLD, work_dir: Path | None = None) -> Evaluation:
    """Run ``name`` (and ``baseline``) on the verified frames the filters select and score them.

    ``work_dir``: where the frames' images are written for the agent (a temporary directory by
    default; the report keeps them).
    """
    excluded = set(exclude)
    with store.db.read("read verified frames") as conn:
        models = [get_model(conn, name)] + ([get_model(conn, baseline)] if baseline else [])
        taxonomy = load_taxonomy(conn)
        frames = verified_frames(conn, device, since, excluded)
    if not frames:
        raise ModelRegistryError("no verified frames match (accept or correct frames in review first, "
                                 "or widen --device/--since)")
    filters = {"device": device, "since": since, "excluded": len(excluded)}
    with tempfile.TemporaryDirectory(prefix="edgelabel-evaluate-") as scratch:
        images_dir = Path(work_dir) if work_dir is not None else Path(scratch)
        images_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for frame in frames:
            paths[frame.id] = images_dir / f"{frame.id}.jpg"
            paths[frame.id].write_bytes(store.media.get(frame.media_sha256))
        runs = [_run(store, model, frames, paths, taxonomy, Path(scratch)) for model in models]
    # The classes reviewers labelled or a model kept a box of; the rest would only be empty rows.
    classes = sorted({c for frame in frames for _, c in frame.boxes}
                     | {p.class_name for predictions, _ in runs for boxes in predictions.values() for p in boxes
                        if p.score >= operating_threshold})
    scores = []
    for model, (predictions, ignored) in zip(models, runs):
        score = score_model(model.name, model.model_id, frames, predictions, classes, operating_threshold)
        score.ignored_boxes = ignored
        scores.append(score)
    kept = {model.name: {frame_id: [p for p in boxes if p.score >= operating_threshold]
                         for frame_id, boxes in predictions.items()} for model, (predictions, _) in zip(models, runs)}
    return Evaluation(frames, classes, scores[0], scores[1] if baseline else None, kept, filters)


def _run(store: DataDir, model: RegisteredModel, frames: list[VerifiedFrame], paths: dict[int, Path],
         taxonomy: Taxonomy, scratch: Path) -> tuple[dict[int, list[Prediction]], int]:
    model_dir = scratch / "models" / model.name
    model_dir.mkdir(parents=True)
    found = detect(write_model_file(store.media, model, model_dir), [paths[f.id] for f in frames], RANKING_THRESHOLD)
    predictions, ignored = {}, 0
    for frame in frames:
        predictions[frame.id], dropped = project_predictions(found[str(paths[frame.id])], model.model_id, taxonomy)
        ignored += dropped
    return predictions, ignored
