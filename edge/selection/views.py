"""How good a view of each tracked object a frame gives: the per-box factors the coverage selector weighs.

A reviewer labels an object best when it is large, sharp, whole and unhidden, and the detector
was sure of it. For each box carrying a track id, :func:`view_factors` gives a number in (0, 1]
that multiplies

* truncation: a box touching the image border is probably cut by it (``TRUNCATED``);
* occlusion: ``1 -`` the largest share of the box another box covers (people crossing each
  other, a van behind a car);
* confidence: the detector's score over ``SURE_SCORE``, at most 1;
* sharpness: the frame's sharpness relative to the scene's level (the blur gate's measure), at
  most 1; a frame blurred enough to be rejected is not considered at all.

The size factor (the box's area over the largest area the track has shown so far, and how large
boxes in that part of the picture usually are against their best: :mod:`edge.selection.sizes`)
changes as later frames arrive, so the selector applies it itself (see
:class:`edge.selection.coverage.TrackBook`); each box comes with its cell of the size map.
"""

from __future__ import annotations

import numpy as np

from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.selection.sizes import GRID

TRUNCATED = 0.8
"""Factor of a box touching the image border: half of the object may be outside the picture."""

BORDER_PX = 2.0
"""A box edge this close to the image border touches it."""

SURE_SCORE = 0.6
"""Detector score from which a box counts as fully confident."""


def view_factors(detections: Detections, width: int, height: int,
                 sharpness: float = 1.0) -> dict[int, tuple[float, float, int]]:
    """Track id -> (box area in pixels, view factor in (0, 1], size-map cell) for each tracked box of the frame."""
    ids = detections.tracker_id
    if not len(ids) or not (ids != NO_TRACK).any():
        return {}
    # Plain Python over a few boxes: each numpy call costs microseconds whatever its size, and
    # this runs on every frame.
    boxes = detections.xyxy.astype(np.float64)
    covered = _covered_share(boxes).tolist()
    sharp = min(1.0, max(0.05, sharpness))
    columns, rows = GRID
    to_column, to_row = 0.5 * columns / max(width, 1), 0.5 * rows / max(height, 1)
    right, bottom = width - BORDER_PX, height - BORDER_PX
    views = {}
    for (x1, y1, x2, y2), track_id, score, hidden in zip(boxes.tolist(), ids.tolist(), detections.confidence.tolist(),
                                                         covered):
        if track_id == NO_TRACK:
            continue
        touches = x1 <= BORDER_PX or y1 <= BORDER_PX or x2 >= right or y2 >= bottom
        factor = (TRUNCATED if touches else 1.0) * (1.0 - hidden) * min(1.0, score / SURE_SCORE) * sharp
        column = min(max(int((x1 + x2) * to_column), 0), columns - 1)
        row = min(max(int((y1 + y2) * to_row), 0), rows - 1)
        views[track_id] = (max(x2 - x1, 0.0) * max(y2 - y1, 0.0), max(factor, 1e-3), row * columns + column)
    return views


def _covered_share(xyxy: np.ndarray) -> np.ndarray:
    """Per box, the largest share of its area that one other box covers."""
    if len(xyxy) < 2:
        return np.zeros(len(xyxy))
    areas = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0)
    left = np.maximum(xyxy[:, None, 0], xyxy[None, :, 0])
    top = np.maximum(xyxy[:, None, 1], xyxy[None, :, 1])
    right = np.minimum(xyxy[:, None, 2], xyxy[None, :, 2])
    bottom = np.minimum(xyxy[:, None, 3], xyxy[None, :, 3])
    inter = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
    np.fill_diagonal(inter, 0)
    return np.minimum(1.0, inter.max(axis=1) / np.maximum(areas, 1e-9))
