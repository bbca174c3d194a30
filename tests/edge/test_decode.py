import numpy as np
import pytest

from edge.contract.boxes import nms_class_aware
from edge.detection.decode import decode_yolox, select_and_nms, yolox_grids


def one_hot_scores(class_id, confidence, num_classes=3) -> np.ndarray:
    scores = np.zeros((len(class_id), num_classes), np.float32)
    scores[np.arange(len(class_id)), class_id] = confidence
    return scores


def reference_nms(xyxy, confidence, class_id, iou_threshold, max_kept):
    """Textbook greedy per-class NMS, one box at a time, to check the vectorised one against."""

    def iou(a, b):
        inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = inter_w * inter_h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    kept = []
    for i in sorted(range(len(confidence)), key=lambda i: -confidence[i]):
        if len(kept) == max_kept:
            break
        if all(class_id[k] != class_id[i] or iou(xyxy[k], xyxy[i]) <= iou_threshold for k in kept):
            kept.append(i)
    return kept


# --- grids and decoding --------------------------------------------------------------------------


def test_grid_matches_the_yolox_head_layout():
    grids = yolox_grids((416, 416))
    assert grids.grid_xy.shape == (3549, 2) and grids.stride.shape == (3549, 1)
    # Stride 8 first (52x52), row-major: x runs fastest.
    np.testing.assert_array_equal(grids.grid_xy[:3], [[0, 0], [1, 0], [2, 0]])
    np.testing.assert_array_equal(grids.grid_xy[52], [0, 1])
    assert grids.stride[2703, 0] == 8 and grids.stride[2704, 0] == 16  # 52*52 = 2704
    assert grids.stride[3380, 0] == 32 and tuple(grids.grid_xy[-1]) == (12, 12)  # + 26*26, 13x13


def test_grid_is_cached_and_read_only():
    first = yolox_grids((416, 416))
    assert yolox_grids([416, 416], strides=[8, 16, 32]) is first
    with pytest.raises(ValueError):
        first.grid_xy[0, 0] = 5


def test_grid_of_a_non_square_input():
    grids = yolox_grids((320, 640))
    assert len(grids.grid_xy) == 40 * 80 + 20 * 40 + 10 * 20
    np.testing.assert_array_equal(grids.grid_xy[80], [0, 1])


def test_decode_follows_the_model_readme():
    grids = yolox_grids((64, 64))  # 8x8 + 4x4 + 2x2 points
    raw = np.zeros((len(grids.grid_xy), 5 + 2), np.float32)
    point = 2 * 8 + 3  # stride-8 cell at column 3, row 2
    raw[point] = [0.5, 0.5, np.log(2), np.log(4), 0.8, 0.5, 0.25]
    xyxy, class_scores = decode_yolox(raw, grids.grid_xy, grids.stride)
    # centre (3.5 * 8, 2.5 * 8) = (28, 20); size (2 * 8, 4 * 8) = (16, 32)
    np.testing.assert_allclose(xyxy[point], [20, 4, 36, 36], rtol=1e-6)
    np.testing.assert_allclose(class_scores[point], [0.4, 0.2], rtol=1e-6)
    assert xyxy.shape == (84, 4) and class_scores.shape == (84, 2)


def test_decode_rejects_a_raw_output_that_does_not_fit_the_grid():
    grids = yolox_grids((64, 64))
    with pytest.raises(ValueError, match=r"expected shape \(84, 5 \+ C\)"):
        decode_yolox(np.zeros((83, 7), np.float32), grids.grid_xy, grids.stride)


# --- selection and NMS ---------------------------------------------------------------------------


def test_overlapping_boxes_of_one_class_keep_the_best():
    xyxy = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    selected = select_and_nms(xyxy, one_hot_scores([0, 0, 0], [0.6, 0.9, 0.7]), 0.3, 0.45, 100)
    np.testing.assert_array_equal(selected.xyxy, xyxy[[1, 2]])
    np.testing.assert_allclose(selected.confidence, [0.9, 0.7])
    assert selected.class_id.dtype == np.int64


def test_nms_is_class_aware():
    # Same place, different classes (a car also read as a truck): both stay.
    xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0.5, 0, 10, 10]], np.float32)
    selected = select_and_nms(xyxy, one_hot_scores([2, 7, 2], [0.8, 0.4, 0.7], 8), 0.3, 0.45, 100)
    assert list(selected.class_id) == [2, 7]
    np.testing.assert_allclose(selected.confidence, [0.8, 0.4])


def test_iou_at_the_threshold_is_kept_and_above_it_is_suppressed():
    # IoU exactly 0.5: intersection 10 x 5 = 50, union 75 + 75 - 50 = 100.
    xyxy = np.array([[0, 0, 10, 7.5], [0, 2.5, 10, 10]], np.float32)
    scores = one_hot_scores([0, 0], [0.9, 0.8])
    assert len(select_and_nms(xyxy, scores, 0.1, 0.5, 10).xyxy) == 2
    assert len(select_and_nms(xyxy, scores, 0.1, 0.49, 10).xyxy) == 1


def test_each_point_keeps_only_its_best_class():
    xyxy = np.array([[0, 0, 10, 10]], np.float32)
    selected = select_and_nms(xyxy, np.array([[0.5, 0.6, 0.4]], np.float32), 0.3, 0.45, 10)
    assert list(selected.class_id) == [1] and selected.confidence[0] == pytest.approx(0.6)


def test_score_threshold_is_inclusive():
    xyxy = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    selected = select_and_nms(xyxy, one_hot_scores([0, 0], [0.5, 0.49]), 0.5, 0.45, 10)
    assert list(selected.confidence) == [0.5]


def test_cap_keeps_the_highest_scores():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 1000, (500, 2)).astype(np.float32)
    xyxy = np.hstack([corners, corners + 5])  # small, mostly disjoint boxes
    confidence = rng.uniform(0.31, 1.0, 500).astype(np.float32)
    selected = select_and_nms(xyxy, one_hot_scores(np.zeros(500, int), confidence), 0.3, 0.45, 7)
    assert len(selected.xyxy) == 7
    np.testing.assert_allclose(selected.confidence, np.sort(confidence)[::-1][:7])


def test_non_finite_boxes_and_scores_are_dropped():
    xyxy = np.array([[0, 0, 10, 10], [0, 0, np.inf, 10], [np.nan, 0, 5, 5], [20, 20, 30, 30]], np.float32)
    scores = one_hot_scores([0, 0, 0, 0], [0.9, 0.95, 0.95, np.nan])
    selected = select_and_nms(xyxy, scores, 0.3, 0.45, 10)
    np.testing.assert_array_equal(selected.xyxy, xyxy[[0]])


@pytest.mark.parametrize("num_boxes, num_classes", [(0, 80), (5, 0)])
def test_empty_input_gives_empty_columns(num_boxes, num_classes):
    selected = select_and_nms(np.zeros((num_boxes, 4)), np.zeros((num_boxes, num_classes)), 0.3, 0.45, 10)
    assert selected.xyxy.shape == (0, 4)
    assert selected.confidence.shape == (0,) and selected.class_id.shape == (0,)


def test_nothing_above_threshold():
    xyxy = np.tile(np.array([0, 0, 1, 1], np.float32), (3, 1))
    selected = select_and_nms(xyxy, one_hot_scores([0, 1, 2], [0.1, 0.2, 0.29]), 0.3, 0.45, 10)
    assert len(selected.xyxy) == 0


def test_mismatched_columns_are_rejected():
    with pytest.raises(ValueError, match=r"class_scores: expected shape \(3, C\)"):
        select_and_nms(np.zeros((3, 4)), np.zeros((2, 80)), 0.3, 0.45, 10)


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_nms_matches_the_textbook_algorithm(seed):
    rng = np.random.default_rng(seed)
    n = 300
    top_left = rng.uniform(0, 200, (n, 2))
    xyxy = np.hstack([top_left, top_left + rng.uniform(5, 60, (n, 2))]).astype(np.float32)
    confidence = rng.uniform(0, 1, n).astype(np.float32)
    class_id = rng.integers(0, 3, n)
    for iou_threshold, max_kept in [(0.45, 1000), (0.3, 1000), (0.7, 25)]:
        kept = nms_class_aware(xyxy, confidence, class_id, iou_threshold, max_kept)
        expected = reference_nms(xyxy.astype(np.float64), confidence, class_id, iou_threshold, max_kept)
        assert list(kept) == expected
        assert len(expected) < n  # the case really suppressed something
