"""Agreement between two reviews: IoU, Hungarian matching, classes, verdicts, aggregates (hand-computed)."""

import numpy as np
import pytest

from server.consistency.agreement import agreement, match_boxes, per_class, per_reviewer


def box(x1, y1, x2, y2, name="person"):
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "class_name": name}


def test_threshold_is_inclusive_at_one_half():
    assert match_boxes(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 20]])) == [(0, 0, 0.5)]
    assert match_boxes(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 21]])) == []


def test_hungarian_beats_greedy_matching():
    # IoU(a0,b0)=70/130, IoU(a1,b0)=80/120 (the best single pair), IoU(a1,b1)=70/130, IoU(a0,b1)=20/180.
    # Greedy takes (a1,b0) and is left with (a0,b1) below 0.5: one pair. The optimum pairs both.
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10]])
    b = np.array([[3, 0, 13, 10], [8, 0, 18, 10]])
    pairs = match_boxes(a, b)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (1, 1)]
    assert [iou for _, _, iou in pairs] == pytest.approx([70 / 130, 70 / 130])


def test_class_disagreement_missed_and_extra():
    a = [box(0, 0, 10, 10), box(20, 20, 40, 40, "car")]
    b = [box(1, 0, 11, 10), box(20, 20, 40, 40, "bus"), box(100, 100, 110, 110)]
    result = agreement("corrected", a, "corrected", b)
    assert (result.matches, result.class_disagreements, result.missed, result.extra) == (1, 1, 0, 1)
    assert result.verdict_agrees and result.score == pytest.approx(2 * 1 / 5)
    assert result.per_class == {"bus": {"a": 0, "b": 1, "agreed": 0}, "car": {"a": 1, "b": 0, "agreed": 0},
                                "person": {"a": 1, "b": 2, "agreed": 1}}
    swapped = agreement("corrected", b, "corrected", a)
    assert (swapped.missed, swapped.extra, swapped.score) == (1, 0, result.score)


def test_verdicts_and_empty_reviews():
    assert agreement("accepted", [], "accepted", []).score == 1.0
    assert agreement("rejected", [], "rejected", []).score == 1.0
    differ = agreement("rejected", [], "accepted", [box(0, 0, 10, 10)])
    assert not differ.verdict_agrees and differ.score == 0.0 and differ.extra == 1
    # accepted vs corrected with the same boxes: both say the frame is usable and the boxes agree
    same = agreement("accepted", [box(0, 0, 10, 10)], "corrected", [box(0, 0, 10, 10.2)])
    assert same.verdict_agrees and same.score == 1.0


def test_aggregates_per_reviewer_and_class():
    perfect = agreement("accepted", [box(0, 0, 10, 10)], "accepted", [box(0, 0, 10, 10)])
    half = agreement("accepted", [box(0, 0, 10, 10), box(50, 50, 60, 60, "car")],
                     "corrected", [box(0, 0, 10, 10), box(50, 50, 60, 60)])
    reviewers = per_reviewer([(1, "alice", "bob", perfect), (2, "alice", "carol", half)])
    assert reviewers["alice"]["frames"] == 2 and reviewers["alice"]["mean_score"] == pytest.approx(0.75)
    assert reviewers["alice"]["frame_ids"] == [1, 2] and reviewers["bob"]["frame_ids"] == [1]
    assert reviewers["carol"]["class_disagreements"] == 1 and reviewers["carol"]["mean_score"] == pytest.approx(0.5)
    classes = per_class([(1, perfect), (2, half)])
    assert classes["person"] == {"boxes_a": 2, "boxes_b": 3, "agreed": 2, "f1": pytest.approx(4 / 5), "frame_ids": [1, 2],
                                 "disagreed_frame_ids": [2]}
    assert classes["car"]["f1"] == 0.0 and classes["car"]["frame_ids"] == [2]
    # each number of a reviewer's row links to the frames behind it
    assert reviewers["alice"]["frames_with"] == {"matches": [1, 2], "class_disagreements": [2], "missed": [],
                                                 "extra": [], "verdict_disagreements": []}
