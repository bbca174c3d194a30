"""Agreement between two reviews of one frame: boxes matched by IoU, classes, verdicts.

A review is a verdict (``accepted``, ``corrected`` or ``rejected``) and a list of boxes
``{"x1", "y1", "x2", "y2", "class_name"}`` (pixel xyxy). Boxes of the two reviews are paired by
the Hungarian algorithm on IoU (maximum total IoU); a pair counts only when its IoU is at least
``iou_threshold`` (0.5). A pair with the same class is a *match*, one with different classes a
*class disagreement*; boxes of the first review left unpaired are *missed* by the second, boxes of
the second left unpaired are *extra*.

The frame's score is the F1 of class-correct matches, ``2 * matches / (n_a + n_b)`` (1.0 when
both reviews have no boxes), and 0.0 when the verdicts differ in whether the frame is usable
(one rejected, the other not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.contract.boxes import iou_xyxy

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class PairAgreement:
    matches: int
    class_disagreements: int
    missed: int
    extra: int
    verdict_agrees: bool
    score: float
    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    """(index in a, index in b, IoU) of every pair at or above the threshold."""
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per class name: ``a`` and ``b`` (boxes of that class in each review) and ``agreed`` (matches)."""

    def as_dict(self) -> dict:
        return {"matches": self.matches, "class_disagreements": self.class_disagreements, "missed": self.missed,
                "extra": self.extra, "verdict_agrees": self.verdict_agrees, "score": self.score,
                "pairs": [list(p) for p in self.pairs], "per_class": self.per_class}


def match_boxes(a: np.ndarray, b: np.ndarray, iou_threshold: float = IOU_THRESHOLD) -> list[tuple[int, int, float]]:
    """Pairs (i, j, IoU) of a one-to-one matching with maximum total IoU, keeping IoU >= threshold."""
    ious = iou_xyxy(a, b)
    if ious.size == 0:
        return []
    rows, cols = linear_sum_assignment(ious, maximize=True)
    return [(int(i), int(j), float(ious[i, j])) for i, j in zip(rows, cols) if ious[i, j] >= iou_threshold]


def agreement(verdict_a: str, boxes_a: Sequence[dict], verdict_b: str, boxes_b: Sequence[dict],
              iou_threshold: float = IOU_THRESHOLD) -> PairAgreement:
    """How far review ``b`` agrees with review ``a`` (symmetric but for missed/extra)."""
    xyxy_a = np.array([[box["x1"], box["y1"], box["x2"], box["y2"]] for box in boxes_a]).reshape(-1, 4)
    xyxy_b = np.array([[box["x1"], box["y1"], box["x2"], box["y2"]] for box in boxes_b]).reshape(-1, 4)
    pairs = match_boxes(xyxy_a, xyxy_b, iou_threshold)
    same = [(i, j) for i, j, _ in pairs if boxes_a[i]["class_name"] == boxes_b[j]["class_name"]]
    per_class: dict[str, dict[str, int]] = {}
    for key, boxes in (("a", boxes_a), ("b", boxes_b)):
        for box in boxes:
            per_class.setdefault(box["class_name"], {"a": 0, "b": 0, "agreed": 0})[key] += 1
    for i, _ in same:
        per_class[boxes_a[i]["class_name"]]["agreed"] += 1
    verdict_agrees = (verdict_a == "rejected") == (verdict_b == "rejected")
    total = len(boxes_a) + len(boxes_b)
    score = (2 * len(same) / total if total else 1.0) if verdict_agrees else 0.0
    return PairAgreement(
        matches=len(same), class_disagreements=len(pairs) - len(same), missed=len(boxes_a) - len(pairs),
        extra=len(boxes_b) - len(pairs), verdict_agrees=verdict_agrees, score=score, pairs=pairs,
        per_class=dict(sorted(per_class.items())),
    )


COUNTED = ("matches", "class_disagreements", "missed", "extra", "verdict_disagreements")


@dataclass
class Tally:
    """Agreement figures summed over frames, with the frames behind them."""

    frames: list[int] = field(default_factory=list)
    score_sum: float = 0.0
    matches: int = 0
    class_disagreements: int = 0
    missed: int = 0
    extra: int = 0
    verdict_disagreements: int = 0

    frames_with: dict[str, list[int]] = field(default_factory=lambda: {key: [] for key in COUNTED})
    """Per counted figure, the frames that add to it (what a dashboard links each number to)."""

    def add(self, frame_id: int, result: PairAgreement) -> None:
        self.frames.append(frame_id)
        self.score_sum += result.score
        self.matches += result.matches
        self.class_disagreements += result.class_disagreements
        self.missed += result.missed
        self.extra += result.extra
        self.verdict_disagreements += not result.verdict_agrees
        for key, count in (("matches", result.matches), ("class_disagreements", result.class_disagreements),
                           ("missed", result.missed), ("extra", result.extra),
                           ("verdict_disagreements", not result.verdict_agrees)):
            if count:
                self.frames_with[key].append(frame_id)

    def as_dict(self) -> dict:
        return {"frames": len(self.frames), "mean_score": self.score_sum / len(self.frames) if self.frames else None,
                "matches": self.matches, "class_disagreements": self.class_disagreements, "missed": self.missed,
                "extra": self.extra, "verdict_disagreements": self.verdict_disagreements,
                "frame_ids": sorted(self.frames),
                "frames_with": {key: sorted(set(ids)) for key, ids in self.frames_with.items()}}


def per_reviewer(results: Iterable[tuple[int, str, str, PairAgreement]]) -> dict[str, dict]:
    """Per reviewer over ``(frame_id, reviewer_a, reviewer_b, result)``: each pair counts for both reviewers."""
    tallies: dict[str, Tally] = {}
    for frame_id, reviewer_a, reviewer_b, result in results:
        for reviewer in dict.fromkeys((reviewer_a, reviewer_b)):
            tallies.setdefault(reviewer, Tally()).add(frame_id, result)
    return {name: tally.as_dict() for name, tally in sorted(tallies.items())}


def per_class(results: Iterable[tuple[int, PairAgreement]]) -> dict[str, dict]:
    """Per class: boxes in either review, class-correct matches, their F1, the frames with the class
    and those of them where the reviews did not agree on every box of it."""
    out: dict[str, dict] = {}
    for frame_id, result in results:
        for name, counts in result.per_class.items():
            entry = out.setdefault(name, {"boxes_a": 0, "boxes_b": 0, "agreed": 0, "frame_ids": [],
                                          "disagreed_frame_ids": []})
            entry["boxes_a"] += counts["a"]
            entry["boxes_b"] += counts["b"]
            entry["agreed"] += counts["agreed"]
            entry["frame_ids"].append(frame_id)
            if counts["agreed"] < max(counts["a"], counts["b"]):
                entry["disagreed_frame_ids"].append(frame_id)
    for entry in out.values():
        total = entry["boxes_a"] + entry["boxes_b"]
        entry["f1"] = 2 * entry["agreed"] / total if total else None
        entry["frame_ids"] = sorted(set(entry["frame_ids"]))
        entry["disagreed_frame_ids"] = sorted(set(entry["disagreed_frame_ids"]))
    return dict(sorted(out.items()))
