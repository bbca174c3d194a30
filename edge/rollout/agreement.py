"""How far two models agree on the same frames (shadow mode): boxes of each, and pairs matched one
to one at IoU >= 0.5 with the same class name (:data:`~edge.contract.rollout.AGREEMENT_FIELDS`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.contract.rollout import AGREEMENT_FIELDS

MATCH_IOU = 0.5


class Agreement:
    def __init__(self):
        self.counts = dict.fromkeys(AGREEMENT_FIELDS, 0)

    def add(self, current, current_names: Sequence[str], candidate, candidate_names: Sequence[str]) -> None:
        """Count one frame: ``current`` and ``candidate`` are the two models' detections."""
        self.counts["frames"] += 1
        self.counts["current_boxes"] += len(current)
        self.counts["candidate_boxes"] += len(candidate)
        self.counts["matched_boxes"] += matched_pairs(
            current.xyxy, [current_names[i] for i in current.class_id],
            candidate.xyxy, [candidate_names[i] for i in candidate.class_id])


def matched_pairs(a_xyxy: np.ndarray, a_names: Sequence[str], b_xyxy: np.ndarray, b_names: Sequence[str],
                  min_iou: float = MATCH_IOU) -> int:
    """Pairs matched greedily, highest IoU first, each box at most once, same class name only."""
    if not len(a_xyxy) or not len(b_xyxy):
        return 0
    iou = _iou(np.asarray(a_xyxy, np.float64), np.asarray(b_xyxy, np.float64))
    iou[np.asarray(a_names, object)[:, None] != np.asarray(b_names, object)[None, :]] = 0.0
    matched = 0
    used_a, used_b = set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        matched += 1
    return matched


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
