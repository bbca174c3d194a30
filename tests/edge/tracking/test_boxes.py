"""Box format conversions and IoU."""

import numpy as np

from edge.contract.boxes import cxcywh_to_xyxy, iou_xyxy, tlwh_to_xyxy, xyxy_to_cxcywh, xyxy_to_tlwh

XYXY = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 1.0, 3.0]])


def test_conversions_round_trip_and_mean_what_their_names_say():
    np.testing.assert_allclose(xyxy_to_tlwh(XYXY), [[10, 20, 40, 80], [0, 0, 1, 3]])
    np.testing.assert_allclose(xyxy_to_cxcywh(XYXY), [[30, 60, 40, 80], [0.5, 1.5, 1, 3]])
    np.testing.assert_allclose(tlwh_to_xyxy(xyxy_to_tlwh(XYXY)), XYXY)
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(XYXY)), XYXY)


def test_iou_by_hand():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 2.0, 8.0]])
    # half overlap: 50 / (100 + 100 - 50); disjoint; identical; a zero-width box
    np.testing.assert_allclose(iou_xyxy(a, b), [[50 / 150, 0.0, 1.0, 0.0]])
    assert iou_xyxy(a, np.zeros((0, 4))).shape == (1, 0)
    assert iou_xyxy(np.zeros((0, 4)), b).shape == (0, 4)
