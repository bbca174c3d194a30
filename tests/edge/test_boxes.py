"""Box format conversions and the shared IoU."""

import numpy as np

from edge.contract.boxes import (
    clip_xyxy,
    cxcywh_to_xyxy,
    iou_xyxy,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_percent_xywh,
    xyxy_to_xywh,
    xyxy_to_yolo,
    yolo_to_xyxy,
)

XYXY = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 1.0, 3.0]])


def test_conversions_round_trip_and_mean_what_their_names_say():
    np.testing.assert_allclose(xyxy_to_xywh(XYXY), [[10, 20, 40, 80], [0, 0, 1, 3]])
    np.testing.assert_allclose(xyxy_to_cxcywh(XYXY), [[30, 60, 40, 80], [0.5, 1.5, 1, 3]])
    np.testing.assert_allclose(xywh_to_xyxy(xyxy_to_xywh(XYXY)), XYXY)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(XYXY)), XYXY)


def test_iou_by_hand():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 2.0, 8.0]])
    # half overlap: 50 / (100 + 100 - 50); disjoint; identical; a zero-width box
    np.testing.assert_allclose(iou_xyxy(a, b), [[50 / 150, 0.0, 1.0, 0.0]])
    assert iou_xyxy(a, np.zeros((0, 4))).shape == (1, 0)
    assert iou_xyxy(np.zeros((0, 4)), b).shape == (0, 4)


def test_iou_of_integer_lists_and_a_degenerate_box():
    iou = iou_xyxy([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 20, 20], [0, 0, 10, 20], [0, 0, 10, 21]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0, 100 / 200, 100 / 210]])


def test_one_box_converts_to_a_tuple_with_the_arithmetic_of_the_array_form():
    box = (10.5, 20.25, 50.0, 100.0)
    assert xyxy_to_xywh(box) == (10.5, 20.25, 39.5, 79.75)
    assert xywh_to_xyxy(xyxy_to_xywh(box)) == box
    assert xyxy_to_xywh(box) == tuple(xyxy_to_xywh(np.array([box]))[0])
    assert xyxy_to_yolo(box, 200, 400) == (30.25 / 200, 60.125 / 400, 39.5 / 200, 79.75 / 400)
    np.testing.assert_allclose(yolo_to_xyxy(xyxy_to_yolo(box, 200, 400), 200, 400), box, rtol=1e-12)
    assert xyxy_to_percent_xywh(box, 200, 400) == (5.25, 5.0625, 19.75, 19.9375)


def test_clip_cuts_to_the_image_and_drops_what_is_left_empty():
    assert clip_xyxy((-5.0, 10.0, 50.0, 500.0), 40, 100) == (0.0, 10.0, 40.0, 100.0)
    assert clip_xyxy((50.0, 10.0, 60.0, 20.0), 40, 100) is None
