"""Box formats and their conversions, all in one place.

* ``xyxy``: corners ``(x1, y1, x2, y2)`` in pixels, what the detector and the wire use.
* ``tlwh``: top-left corner, width and height, what MOTChallenge files use.
* ``cxcywh``: centre, width and height, the Kalman state. Width and height are filtered on their
  own rather than as an aspect ratio (ByteTrack's ``xyah``), because boxes cut by the image
  border or by an occluder change their aspect ratio fast: measured on TUD-Campus, a person
  walking in at the left edge widened from 32 to 113 px in ten frames while an ``xyah`` track
  stayed 40 px wide and lost them to the person next to them.

Every function takes and returns ``(N, 4)`` arrays (float64 out).
"""

from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    size = xyxy[:, 2:] - xyxy[:, :2]
    return np.concatenate([xyxy[:, :2] + size / 2, size], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    cxcywh = np.asarray(cxcywh, np.float64).reshape(-1, 4)
    half = cxcywh[:, 2:] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def xyxy_to_tlwh(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


def tlwh_to_xyxy(tlwh: np.ndarray) -> np.ndarray:
    tlwh = np.asarray(tlwh, np.float64).reshape(-1, 4)
    return np.concatenate([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]], axis=1)


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union, ``(len(a), len(b))``; 0 where the union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    # Plain ufuncs on columns: this runs several times per tracker update, where the generic
    # clip/prod wrappers cost more than the arithmetic.
    width = np.minimum(a[:, 2:3], b[:, 2]) - np.maximum(a[:, 0:1], b[:, 0])
    height = np.minimum(a[:, 3:4], b[:, 3]) - np.maximum(a[:, 1:2], b[:, 1])
    intersection = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0.0) * np.maximum(a[:, 3] - a[:, 1], 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    union = area_a[:, None] + area_b - intersection
    iou = np.zeros_like(intersection)
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou
