"""COCO mAP of the detector on real COCO images with ground truth (pycocotools)."""

import pytest

from edge.detection import Detector
from tests.coco_eval import coco_eval
from tests.edge.detection import layout_models

pytest.importorskip("pycocotools", reason="pycocotools is a test dependency (dev extra)")

# Measured on shared/data/coco (32 images, 288 boxes) with onnxruntime 1.32: mAP 0.273, AP50 0.407.
# The range allows other ONNX Runtime builds; a broken letterbox, decode or NMS falls far below it.
FLOAT_MAP = (0.25, 0.30)
FLOAT_AP50 = (0.38, 0.44)


def evaluation_detector(path, **kwargs):
    """Settings of YOLOX's own COCO evaluation: every box down to 0.001, NMS at 0.65."""
    return Detector(
        path, score_threshold=0.001, iou_threshold=0.65, max_detections=100, threads=2, **kwargs
    )


@pytest.fixture(scope="module")
def coco_dir(data_dir):
    return data_dir / "coco"


def test_float_model_coco_map(model_path, coco_dir):
    mean_ap, ap50 = coco_eval(evaluation_detector(model_path), coco_dir)
    assert FLOAT_MAP[0] <= mean_ap <= FLOAT_MAP[1]
    assert FLOAT_AP50[0] <= ap50 <= FLOAT_AP50[1]


def test_yolov8_layout_of_the_same_weights_scores_alike(model_path, coco_dir, tmp_path):
    # Same weights, centred letterbox: measured 0.283 (the frame's placement moves scores a little).
    path = layout_models.build_yolov8(model_path, tmp_path / "v8.onnx")
    mean_ap, _ = coco_eval(evaluation_detector(path), coco_dir)
    assert FLOAT_MAP[0] <= mean_ap <= FLOAT_MAP[1] + 0.02
