"""Mean average precision of detections against reference boxes, COCO-style, in pure numpy.

Used to judge a quantized model against its float original (the float model's boxes are the
reference) without pulling pycocotools onto an edge device, and by the collector's ``models
evaluate`` to score a model against reviewers' verified boxes: both sides score the same way. The rules follow pycocotools' bbox
evaluation at one IoU threshold, all areas, one image's detections capped by the caller:

* per class, detections from all images are ranked by score (stable, images in the given order);
* each detection is matched, within its image, to the unmatched reference box of its class with
  the highest IoU at or above the threshold; unmatched detections are false positives;
* precision is made monotone (the envelope) and read at 101 recall points 0, 0.01, ..., 1;
* classes with no reference box are left out of the mean, as COCO does.

There are no crowd or ignore regions: a reference set produced by a model has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.contract.boxes import iou_xyxy

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
COCO_IOU_THRESHOLDS = tuple(float(t) for t in np.round(np.linspace(0.5, 0.95, 10), 2))
"""COCO's mAP@[.5:.95]: the mean over these IoU thresholds."""


class Boxes(Protocol):
    """What is read from each image's detections (``edge.frame_detections.Detections`` fits)."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray


@dataclass(frozen=True)
class MeanAP:
    mean_ap: float | None
    """Mean over classes that have reference boxes; None when no image has any reference box."""
    per_class: dict[int, float]
    """Average precision of each class id that has reference boxes."""
    reference_boxes: int
    """Reference boxes over all images."""
    per_class_boxes: dict[int, int]
    """Reference boxes of each class id (the denominator of that class's recall)."""


def mean_average_precision(
    predictions: Sequence[Boxes],
    references: Sequence[Boxes],
    iou_threshold: float = 0.5,
    ignored: Sequence[Boxes] | None = None,
) -> MeanAP:
    """mAP of ``predictions`` scored against ``references`` (one entry per image, same order).

    Reference confidences are not used. ``iou_threshold`` is the overlap a prediction needs to
    count as finding a reference box: 0.5 (PASCAL VOC, COCO's AP50) forgives loose boxes.
    ``ignored`` (per image, optional) are "don't care" boxes, as COCO's crowd regions: a
    prediction that finds no reference box but overlaps an ignored box of its class at the
    threshold counts neither as a hit nor as a false positive.
    """
    if len(predictions) != len(references):
        raise ValueError(f"predictions: expected {len(references)} images, got {len(predictions)}")
    if ignored is not None and len(ignored) != len(references):
        raise ValueError(f"ignored: expected {len(references)} images, got {len(ignored)}")
    reference_classes = np.concatenate(
        [np.asarray(ref.class_id, np.int64).reshape(-1) for ref in references] or [[]]
    )
    classes, counts = np.unique(reference_classes.astype(np.int64), return_counts=True)
    per_class = {int(c): _class_ap(predictions, references, int(c), iou_threshold, ignored) for c in classes}
    mean_ap = float(np.mean(list(per_class.values()))) if per_class else None
    boxes = {int(c): int(n) for c, n in zip(classes, counts)}
    return MeanAP(mean_ap, per_class, int(counts.sum()), boxes)


def _class_ap(predictions, references, class_id: int, iou_threshold: float, ignored=None) -> float:
    scores, hits = [], []
    num_references = 0
    for index, (predicted, reference) in enumerate(zip(predictions, references)):
        reference_xyxy = _of_class(reference, class_id)
        num_references += len(reference_xyxy)
        mine = np.asarray(predicted.class_id).reshape(-1) == class_id
        if not mine.any():
            continue
        confidence = np.asarray(predicted.confidence, np.float64).reshape(-1)[mine]
        order = np.argsort(-confidence, kind="stable")
        xyxy = np.asarray(predicted.xyxy, np.float64).reshape(-1, 4)[mine][order]
        hit = match_greedy(xyxy, reference_xyxy, iou_threshold)
        counted = np.ones(len(hit), bool)
        if ignored is not None:
            ignored_xyxy = _of_class(ignored[index], class_id)
            if len(ignored_xyxy):
                counted = hit | ~(iou_xyxy(xyxy, ignored_xyxy) >= iou_threshold).any(axis=1)
        scores.append(confidence[order][counted])
        hits.append(hit[counted])
    if num_references == 0 or not scores:
        return 0.0
    ranked = np.argsort(-np.concatenate(scores), kind="stable")
    true_positive = np.concatenate(hits)[ranked]
    tp_cumulative = np.cumsum(true_positive)
    fp_cumulative = np.cumsum(~true_positive)
    recall = tp_cumulative / num_references
    precision = tp_cumulative / (tp_cumulative + fp_cumulative)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    first_reaching = np.searchsorted(recall, RECALL_POINTS, side="left")
    reached = first_reaching < len(recall)
    return float(np.where(reached, envelope[np.minimum(first_reaching, len(recall) - 1)], 0.0).mean())


def _of_class(boxes: Boxes, class_id: int) -> np.ndarray:
    xyxy = np.asarray(boxes.xyxy, np.float64).reshape(-1, 4)
    return xyxy[np.asarray(boxes.class_id).reshape(-1) == class_id]


def match_greedy(predicted_xyxy: np.ndarray, reference_xyxy: np.ndarray, iou_threshold: float) -> np.ndarray:
    """For predictions sorted best first: True where one finds a still-unmatched reference box.

    Each prediction takes the unmatched reference with the highest IoU at or above the threshold.
    """
    found = np.zeros(len(predicted_xyxy), bool)
    if len(reference_xyxy) == 0 or len(predicted_xyxy) == 0:
        return found
    iou = iou_xyxy(predicted_xyxy, reference_xyxy)
    taken = np.zeros(len(reference_xyxy), bool)
    # Greedy by rank is inherently sequential; the loop is over one image's boxes of one class.
    for index, row in enumerate(iou):
        candidates = np.where(taken | (row < iou_threshold), -1.0, row)
        best = int(candidates.argmax())
        if candidates[best] >= 0:
            taken[best] = found[index] = True
    return found


@dataclass(frozen=True)
class CocoMeanAP:
    map: float | None
    """mAP@[.5:.95]: mean over :data:`COCO_IOU_THRESHOLDS` and over classes with reference boxes."""
    ap50: float | None
    """The same at IoU 0.5 only."""
    per_class: dict[int, float]
    """mAP@[.5:.95] of each class id with reference boxes."""
    reference_boxes: int


def coco_mean_average_precision(predictions: Sequence[Boxes], references: Sequence[Boxes]) -> CocoMeanAP:
    """COCO's box mAP (all areas; cap detections at 100 per image before calling, as COCO does).

    Matches pycocotools on sets without crowd regions to within rounding of its matcher's ties.
    """
    by_threshold = [mean_average_precision(predictions, references, t) for t in COCO_IOU_THRESHOLDS]
    first = by_threshold[0]
    if first.mean_ap is None:
        return CocoMeanAP(None, None, {}, 0)
    per_class = {c: float(np.mean([r.per_class[c] for r in by_threshold])) for c in first.per_class}
    return CocoMeanAP(float(np.mean(list(per_class.values()))), first.mean_ap, per_class, first.reference_boxes)
