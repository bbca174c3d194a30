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
from edge.selection.sizes import cell_of

TRUNCATED = 0.8
"""Factor of a box touching the image border: half of the object may be outside the picture."""

BORDER_PX = 2.0
"""A box edge this close to the image border touches it."""

SURE_SCORE = 0.6
"""Detector score from which a box counts as fully confident."""


def view_factors(detections: Detections, width: int, height: int,
                 sharpness: float = 1.0) -> dict[int, tuple[float, float, int]]:
    """Track id -> (box area in pixels, view factor in (0, 1], size-map cell) for each tracked box of the frame."""
    tracked = detections.tracker_id != NO_TRACK
    if not tracked.any():
        return {}
    xyxy = detections.xyxy.astype(np.float64)
    areas = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0)
    touches = ((xyxy[:, 0] <= BORDER_PX) | (xyxy[:, 1] <= BORDER_PX)
               | (xyxy[:, 2] >= width - BORDER_PX) | (xyxy[:, 3] >= height - BORDER_PX))
    covered = _covered_share(xyxy, areas)
    confidence = np.minimum(1.0, detections.confidence.astype(np.float64) / SURE_SCORE)
    factor = np.where(touches, TRUNCATED, 1.0) * (1.0 - covered) * confidence * min(1.0, max(0.05, sharpness))
    ids, cells = detections.tracker_id, cell_of(xyxy, width, height)
    return {int(ids[i]): (float(areas[i]), float(max(factor[i], 1e-3)), int(cells[i])) for i in np.flatnonzero(tracked)}


def _covered_share(xyxy: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Per box, the largest share of its area that one other box covers."""
    if len(xyxy) < 2:
        return np.zeros(len(xyxy))
    left = np.maximum(xyxy[:, None, 0], xyxy[None, :, 0])
    top = np.maximum(xyxy[:, None, 1], xyxy[None, :, 1])
    right = np.minimum(xyxy[:, None, 2], xyxy[None, :, 2])
    bottom = np.minimum(xyxy[:, None, 3], xyxy[None, :, 3])
    inter = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
    np.fill_diagonal(inter, 0)
    return np.minimum(1.0, inter.max(axis=1) / np.maximum(areas, 1e-9))
