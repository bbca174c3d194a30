"""Per-layout decoders on hand-made outputs whose boxes are known."""

import numpy as np
import pytest

from edge.detection.heads import (
    EndToEndRowsHead,
    EndToEndSeparateHead,
    NmsSettings,
    OutputShapeError,
    Yolov5Head,
    Yolov8Head,
    decode_yolov5,
    decode_yolov8,
)

SETTINGS = NmsSettings(score_threshold=0.3, iou_threshold=0.45, max_detections=100)


def test_yolov5_rows_decode_centre_size_and_objectness():
    rows = np.array([[50, 40, 20, 10, 0.5, 0.2, 0.9], [10, 10, 4, 4, 1.0, 0.7, 0.1]], np.float32)
    xyxy, scores = decode_yolov5(rows)
    np.testing.assert_allclose(xyxy, [[40, 35, 60, 45], [8, 8, 12, 12]])
    np.testing.assert_allclose(scores, [[0.1, 0.45], [0.7, 0.1]])


def test_yolov8_columns_decode_without_objectness():
    channels = np.array([[50, 10], [40, 10], [20, 4], [10, 4], [0.2, 0.7], [0.9, 0.1]], np.float32)
    xyxy, scores = decode_yolov8(channels)
    np.testing.assert_allclose(xyxy, [[40, 35, 60, 45], [8, 8, 12, 12]])
    np.testing.assert_allclose(scores, [[0.2, 0.9], [0.7, 0.1]])


def test_dense_heads_select_the_best_class_and_suppress():
    rows = np.array(
        [[50, 40, 20, 10, 1.0, 0.1, 0.9], [51, 40, 20, 10, 1.0, 0.1, 0.8], [200, 200, 10, 10, 0.9, 0.5, 0.0]],
        np.float32,
    )
    kept = Yolov5Head("out", 3, 2).kept_boxes([rows[None]], SETTINGS)
    assert kept.class_id.tolist() == [1, 0]
    np.testing.assert_allclose(kept.confidence, [0.9, 0.45])
    same = Yolov8Head("out", 3, 2).kept_boxes([np.delete(rows, 4, axis=1).T[None]], SETTINGS)
    assert same.class_id.tolist() == [1, 0]


def test_rows6_and_rows7_orders():
    rows6 = np.array([[[10, 20, 30, 40, 0.8, 3], [0, 0, 5, 5, 0.1, 1]]], np.float32)
    kept = EndToEndRowsHead("out", 6).kept_boxes([rows6], SETTINGS)
    np.testing.assert_allclose(kept.xyxy, [[10, 20, 30, 40]])
    assert kept.class_id.tolist() == [3] and kept.confidence.tolist() == pytest.approx([0.8])
    rows7 = np.array([[0, 10, 20, 30, 40, 3, 0.8]], np.float32)  # 2-D, as YOLOv7 exports it
    again = EndToEndRowsHead("out", 7).kept_boxes([rows7], SETTINGS)
    np.testing.assert_allclose(again.xyxy, kept.xyxy)
    assert again.class_id.tolist() == [3]


def test_separate_outputs_stop_at_the_count_and_drop_negative_labels():
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [0, 0, 0, 0]]], np.float32)
    scores = np.array([[0.9, 0.8, 0.7, 0.0]], np.float32)
    labels = np.array([[2, -1, 5, 0]], np.int32)
    head = EndToEndSeparateHead("boxes", "scores", "labels", "num")
    kept = head.kept_boxes([boxes, scores, labels, np.array([[3]])], SETTINGS)
    assert kept.class_id.tolist() == [2, 5]
    dets = np.concatenate([boxes, scores[..., None]], axis=2)
    from_dets = EndToEndSeparateHead("dets", None, "labels", None).kept_boxes([dets, labels], SETTINGS)
    assert from_dets.class_id.tolist() == [2, 5]


def test_float_labels_with_nan_are_dropped():
    rows6 = np.array([[[10, 20, 30, 40, 0.8, np.nan], [10, 20, 30, 40, 0.7, 2.0000002]]], np.float32)
    assert EndToEndRowsHead("out", 6).kept_boxes([rows6], SETTINGS).class_id.tolist() == [2]


def test_end_to_end_rows_get_the_same_nms_as_dense_heads():
    rows6 = np.array([[[10, 20, 30, 40, 0.8, 3], [11, 20, 30, 40, 0.7, 3], [11, 20, 30, 40, 0.6, 4]]], np.float32)
    assert EndToEndRowsHead("out", 6).kept_boxes([rows6], SETTINGS).class_id.tolist() == [3, 4]


@pytest.mark.parametrize(
    "head, output, message",
    [
        (Yolov5Head("out", 3, 2), np.zeros((1, 4, 7)), r"expected output shape \[1, 3, 7\], got \[1, 4, 7\]"),
        (Yolov8Head("out", None, 2), np.zeros((1, 7, 4)), r"expected output shape \[1, 6, N\], got \[1, 7, 4\]"),
        (EndToEndRowsHead("out", 6), np.zeros((1, 4, 7)), r"expected output shape \[1, N, 6\], got \[1, 4, 7\]"),
    ],
)
def test_wrong_shapes_at_run_time_are_named(head, output, message):
    with pytest.raises(OutputShapeError, match=message):
        head.kept_boxes([output], SETTINGS)
