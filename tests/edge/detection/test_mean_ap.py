"""The numpy mAP against pycocotools on real detections, plus the cases that define it."""

import contextlib
import io

import cv2
import numpy as np
import pytest

from edge.contract.mean_ap import match_greedy, mean_average_precision
from edge.detection import Detector
from edge.frame_detections import Detections

pycocotools = pytest.importorskip("pycocotools", reason="pycocotools is a test dependency (dev extra)")


def boxes(xyxy, class_id, confidence=None):
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    confidence = np.ones(len(xyxy)) if confidence is None else confidence
    return Detections.from_arrays(xyxy, confidence, class_id)


def test_perfect_and_empty_predictions():
    reference = [boxes([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1])]
    assert mean_average_precision(reference, reference).mean_ap == pytest.approx(1.0)
    none = mean_average_precision([Detections.empty()], reference)
    assert none.mean_ap == 0.0 and none.per_class_boxes == {0: 1, 1: 1}


def test_no_reference_boxes_gives_no_mean():
    result = mean_average_precision([boxes([[0, 0, 1, 1]], [0])], [Detections.empty()])
    assert result.mean_ap is None and result.reference_boxes == 0


def test_a_false_positive_ranked_first_halves_precision():
    reference = [boxes([[0, 0, 10, 10]], [0])]
    predicted = [boxes([[50, 50, 60, 60], [0, 0, 10, 10]], [0, 0], [0.9, 0.8])]
    # Recall 1 is reached at precision 1/2 after the false positive: AP = 0.5 at all 101 points.
    assert mean_average_precision(predicted, reference).mean_ap == pytest.approx(0.5)


def test_wrong_class_and_low_iou_do_not_match():
    reference = [boxes([[0, 0, 10, 10]], [0])]
    assert mean_average_precision([boxes([[0, 0, 10, 10]], [1])], reference).per_class == {0: 0.0}
    assert mean_average_precision([boxes([[5, 0, 15, 10]], [0])], reference).per_class == {0: 0.0}  # IoU 1/3


def test_greedy_matching_takes_each_reference_once():
    found = match_greedy(np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float), np.array([[0, 0, 10, 10]], float), 0.5)
    assert found.tolist() == [True, False]


def test_mismatched_image_counts_are_rejected():
    with pytest.raises(ValueError, match="expected 2 images, got 1"):
        mean_average_precision([Detections.empty()], [Detections.empty()] * 2)


def pycocotools_ap50(predictions, references, image_sizes):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    categories = sorted(
        {int(c) for r in references for c in r.class_id} | {int(c) for p in predictions for c in p.class_id}
    )
    truth = {"images": [], "annotations": [], "categories": [{"id": c + 1, "name": str(c)} for c in categories]}
    results = []
    for image_id, (reference, predicted, (height, width)) in enumerate(
        zip(references, predictions, image_sizes), 1
    ):
        truth["images"].append({"id": image_id, "width": width, "height": height})
        for b, c in zip(reference.xyxy, reference.class_id):
            box = xywh(b)
            truth["annotations"].append(
                {
                    "id": len(truth["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": int(c) + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        for b, s, c in zip(predicted.xyxy, predicted.confidence, predicted.class_id):
            results.append({"image_id": image_id, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = truth
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(results), "bbox")
        evaluation.params.areaRng = [[0, 1e10]]  # one area range, "all", as the numpy module has
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes, area all, 100 dets
    return float(np.mean([p[p > -1].mean() for p in precision.T if (p > -1).any()]))


def test_matches_pycocotools_on_real_detections(model_path, images_dir):
    """Float YOLOX-Nano boxes at 0.3 as the reference; the same model at 0.3 on blurred frames as predictions."""
    detector = Detector(model_path, score_threshold=0.3, threads=2)
    low = Detector(model_path, score_threshold=0.05, max_detections=100, threads=2)
    images = [cv2.imread(str(p)) for p in sorted(images_dir.glob("*.jpg"))]
    references = [detector.detect(image) for image in images]
    predictions = [low.detect(cv2.GaussianBlur(image, (25, 25), 8)) for image in images]
    ours = mean_average_precision(predictions, references)
    theirs = pycocotools_ap50(predictions, references, [image.shape[:2] for image in images])
    assert 0.2 < ours.mean_ap < 0.95  # a real mix of hits, misses and false positives
    assert ours.mean_ap == pytest.approx(theirs, abs=1e-6)
