"""Box formats, the conversions between them, and the one IoU and NMS both sides use.

* ``xyxy``: corners ``(x1, y1, x2, y2)`` in pixels, what the detector, the wire and the collector's
  database hold.
* ``xywh``: top-left corner, width and height in pixels (COCO's ``bbox``; MOTChallenge files call
  it ``tlwh``).
* ``cxcywh``: centre, width and height, the tracker's Kalman state. Width and height are filtered
  on their own rather than as an aspect ratio (ByteTrack's ``xyah``), because boxes cut by the
  image border or by an occluder change their aspect ratio fast: measured on TUD-Campus, a person
  walking in at the left edge widened from 32 to 113 px in ten frames while an ``xyah`` track
  stayed 40 px wide and lost them to the person next to them.
* ``yolo``: centre x, centre y, width, height as fractions of the image size (Ultralytics labels).
* ``percent_xywh``: top-left corner, width and height in percent of the image (Label Studio).

The tracker, the detector and the metrics work on ``(N, 4)`` arrays (float64 out). Dataset files
are converted one box at a time, as a tuple of four floats, so exporters and importers go through
the same arithmetic both ways. :func:`xyxy_to_xywh` and :func:`xywh_to_xyxy` take either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]

# --- conversions ----------------------------------------------------------------------------------


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    size = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + size / 2, size], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    cxcywh = np.asarray(cxcywh, np.float64).reshape(-1, 4)
    half = cxcywh[:, 2:] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def xyxy_to_xywh(xyxy: Sequence[float] | np.ndarray) -> Box | np.ndarray:
    """One box (a tuple) or an array of boxes (``(N, 4)`` float64), as it was given."""
    if isinstance(xyxy, np.ndarray):
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    x1, y1, x2, y2 = xyxy
    return (x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(xywh: Sequence[float] | np.ndarray) -> Box | np.ndarray:
    """One box (a tuple) or an array of boxes (``(N, 4)`` float64), as it was given."""
    if isinstance(xywh, np.ndarray):
        xywh = np.asarray(xywh, np.float64).reshape(-1, 4)
        return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    x, y, w, h = xywh
    return (x, y, x + w, y + h)


def xyxy_to_yolo(xyxy: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = xyxy
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def yolo_to_xyxy(yolo: Box, width: int, height: int) -> Box:
    cx, cy, w, h = yolo
    return ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)


def xyxy_to_percent_xywh(xyxy: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = xyxy
    return (100 * x1 / width, 100 * y1 / height, 100 * (x2 - x1) / width, 100 * (y2 - y1) / height)


def clip_xyxy(xyxy: Box, width: int, height: int) -> Box | None:
    """The box cut to the image, or None when nothing of it is left (the wire refuses empty boxes)."""
    x1, y1, x2, y2 = xyxy
    x1, x2 = min(max(x1, 0.0), float(width)), min(max(x2, 0.0), float(width))
    y1, y2 = min(max(y1, 0.0), float(height)), min(max(y2, 0.0), float(height))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


# --- overlap --------------------------------------------------------------------------------------


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union, ``(len(a), len(b))`` float64; 0 where the union is empty.

    The one IoU of the project: the tracker's association, NMS, tile merging, mAP matching, the
    keyframe selector and the collector's review agreement all use it. An inverted box counts as
    empty.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    return _iou(a, b, _areas(a), _areas(b))


def nms_class_aware(
    xyxy: np.ndarray,
    confidence: np.ndarray,
    class_id: np.ndarray,
    iou_threshold: float,
    max_kept: int,
) -> np.ndarray:
    """Greedy NMS within each class; returns indices of kept boxes, highest confidence first.

    A box is suppressed when its IoU with a kept box of the same class is above
    ``iou_threshold``. Each round keeps one box and suppresses against it with one vectorised
    IoU, so the work is bounded by ``max_kept`` rounds, not by the number of candidates.
    """
    # Stable sort: equal scores keep input order, so results do not depend on the sort algorithm.
    order = np.argsort(-np.asarray(confidence), kind="stable")
    # float64 so IoU of boxes far from the origin is not eroded by rounding.
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)[order]
    classes = np.asarray(class_id)[order]
    areas = _areas(boxes)  # once, not once per round
    remaining = np.arange(len(order))
    kept: list[int] = []
    while remaining.size and len(kept) < max_kept:
        best, rest = remaining[0], remaining[1:]
        kept.append(best)
        iou = _iou(boxes[best : best + 1], boxes[rest], areas[best : best + 1], areas[rest])[0]
        duplicate = (iou > iou_threshold) & (classes[rest] == classes[best])
        remaining = rest[~duplicate]
    return order[np.asarray(kept, dtype=np.int64)]


def _areas(xyxy: np.ndarray) -> np.ndarray:
    return np.maximum(xyxy[:, 2] - xyxy[:, 0], 0.0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0.0)


def _iou(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    # Plain ufuncs on columns: this runs several times per tracker update and once per NMS round,
    # where the generic clip/prod wrappers cost more than the arithmetic.
    width = np.minimum(a[:, 2:3], b[:, 2]) - np.maximum(a[:, 0:1], b[:, 0])
    height = np.minimum(a[:, 3:4], b[:, 3]) - np.maximum(a[:, 1:2], b[:, 1])
    intersection = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    union = area_a[:, None] + area_b - intersection
    iou = np.zeros_like(intersection)
    # Two empty boxes have no overlap to speak of (0/0); call it 0 rather than NaN.
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou
