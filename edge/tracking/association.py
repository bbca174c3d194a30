"""Matching tracks to detections: IoU costs and an optimal one-to-one assignment under a gate.

The tracker computes one cost matrix per update (every track against every detection) and each
ByteTrack stage solves :func:`match` on its block of rows (tracks) and columns (detections) with
its own gate. Boxes of different classes never match: the cost between them is above any gate,
so a person track cannot swallow a bicycle box that overlaps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.contract.boxes import iou_xyxy

FORBIDDEN = 1e6
"""Cost of a pair that must never match: above every gate (IoU costs are at most 1)."""


@dataclass(frozen=True)
class Matches:
    """Result of one assignment, as indices into the rows (tracks) and columns (detections) given."""

    rows: np.ndarray
    """(M,) matched row indices, paired element-wise with :attr:`cols`."""
    cols: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def iou_cost(
    track_xyxy: np.ndarray,
    track_class_id: np.ndarray,
    detection_xyxy: np.ndarray,
    detection_class_id: np.ndarray,
) -> np.ndarray:
    """``1 - IoU`` between every track (rows) and detection (columns); :data:`FORBIDDEN` across classes."""
    cost = 1.0 - iou_xyxy(track_xyxy, detection_xyxy)
    cost[np.asarray(track_class_id)[:, None] != np.asarray(detection_class_id)] = FORBIDDEN
    return cost


def weight_by_score(cost: np.ndarray, detection_score: np.ndarray) -> np.ndarray:
    """The cost ``1 - IoU x score`` from a cost ``1 - IoU`` (ByteTrack's score fusion).

    Of two detections that overlap a track equally, the more confident one wins, which keeps a
    track on its object when a weak false positive sits on top of it. Forbidden pairs stay so.
    """
    weighted = 1.0 - (1.0 - cost) * np.asarray(detection_score, np.float64)
    weighted[cost >= FORBIDDEN] = FORBIDDEN
    return weighted


def match(cost: np.ndarray, max_cost: float) -> Matches:
    """One-to-one pairs of cost at most ``max_cost``, chosen to minimise the total cost plus a
    penalty of ``max_cost / 2`` per row and per column left unmatched (the ``cost_limit`` rule of
    ``lap.lapjv`` that ByteTrack uses).

    That is the same as maximising the summed slack ``max_cost - cost`` of the chosen pairs: one
    good match beats two poor ones that would only raise the number of matches (a track that
    overlaps its object at IoU 0.9 keeps it even if taking a 0.3-overlap box instead would let a
    second track match too).
    """
    num_rows, num_cols = cost.shape
    if num_rows == 0 or num_cols == 0:
        return Matches(_NONE, _NONE, np.arange(num_rows), np.arange(num_cols))
    allowed = cost <= max_cost
    # Non-negative slack, so padding an optimal partial matching with zero-slack pairs keeps it
    # optimal; the tiny bonus makes a pair exactly at the gate worth taking.
    slack = np.where(allowed, max_cost - cost + 1e-9, 0.0)
    rows, cols = linear_sum_assignment(slack, maximize=True)
    keep = allowed[rows, cols]
    rows, cols = rows[keep], cols[keep]
    row_free = np.ones(num_rows, bool)
    row_free[rows] = False
    col_free = np.ones(num_cols, bool)
    col_free[cols] = False
    return Matches(rows, cols, row_free.nonzero()[0], col_free.nonzero()[0])


_NONE = np.zeros(0, np.int64)
