"""Labeled sets for ``quantize --eval``: COCO and YOLO layouts read into ground truth, and our COCO
mAP checked against pycocotools on COCO128."""

import json

import cv2
import pytest

from edge.contract.boxes import iou_xyxy
from edge.contract.errors import ConfigError
from edge.contract.mean_ap import coco_mean_average_precision
from edge.detection import COCO_CLASSES, Detector
from edge.evaluation.labeled import load_labeled_set
from tests.coco_eval import coco_eval

pytest.importorskip("pycocotools", reason="pycocotools is a test dependency (dev extra)")


@pytest.fixture(scope="module")
def coco128(data_dir):
    return data_dir / "coco128"


@pytest.fixture(scope="module")
def evaluation_detector(model_path):
    return Detector(model_path, score_threshold=0.001, iou_threshold=0.65, max_detections=100, threads=2)


def test_coco_directory_json_and_yolo_layout_give_the_same_truth(coco128, tmp_path):
    from_dir = load_labeled_set(coco128, COCO_CLASSES)
    from_json = load_labeled_set(coco128 / "annotations" / "instances_train2017.json", COCO_CLASSES)
    # The YOLO half of COCO128 on its own, with class names from a data.yaml.
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "images").symlink_to(coco128 / "images")
    (yolo / "labels").symlink_to(coco128 / "labels")
    (yolo / "data.yaml").write_text("names:\n" + "".join(f"  {i}: {name}\n" for i, name in enumerate(COCO_CLASSES)))
    from_yolo = load_labeled_set(yolo, COCO_CLASSES)
    assert len(from_dir.images) == len(from_json.images) == len(from_yolo.images) == 128
    assert from_dir.boxes == from_yolo.boxes == 929
    assert from_dir.description.startswith("COCO") and from_yolo.description.startswith("YOLO")
    for coco_image, yolo_image in zip(from_dir.images, from_yolo.images):
        assert coco_image.path.name == yolo_image.path.name
        if not len(coco_image.truth.xyxy):
            assert not len(yolo_image.truth.xyxy)
            continue
        # Every COCO box has its YOLO twin (same class, the same box up to the labels' rounding).
        iou = iou_xyxy(coco_image.truth.xyxy, yolo_image.truth.xyxy)
        twin = iou.argmax(axis=1)
        assert (iou.max(axis=1) > 0.98).all()
        assert list(coco_image.truth.class_id) == list(yolo_image.truth.class_id[twin])


def test_our_coco_map_matches_pycocotools_on_coco128(coco128, evaluation_detector):
    labeled = load_labeled_set(coco128, COCO_CLASSES)
    predictions = [evaluation_detector.detect(cv2.imread(str(image.path))) for image in labeled.images]
    ours = coco_mean_average_precision(predictions, [image.truth for image in labeled.images])
    reference_map, reference_ap50 = coco_eval(evaluation_detector, coco128)
    assert ours.map == pytest.approx(reference_map, abs=1e-4)
    assert ours.ap50 == pytest.approx(reference_ap50, abs=1e-4)
    assert 0.28 <= ours.map <= 0.38  # YOLOX-Nano's own COCO accuracy is 0.258 on val2017


def test_classes_are_matched_by_name_and_unknown_ones_counted(coco128, tmp_path):
    doc = json.loads((coco128 / "annotations" / "instances_train2017.json").read_text())
    doc["images"] = doc["images"][:5]
    kept = {image["id"] for image in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in kept]
    doc["annotations"][0]["iscrowd"] = 1
    (tmp_path / "images").symlink_to(coco128 / "images" / "train2017")
    (tmp_path / "subset.json").write_text(json.dumps(doc))
    people_only = load_labeled_set(tmp_path / "subset.json", ["Person"])
    assert {int(c) for image in people_only.images for c in image.truth.class_id} == {0}
    assert people_only.dropped_boxes["crowd region"] == 1
    assert any("unknown to the model" in reason for reason in people_only.dropped_boxes)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "no such file or directory"),
        (lambda tmp: tmp, "not a labeled set"),
        (lambda tmp: _write(tmp / "bad.json", "{}"), "not a COCO instances file"),
    ],
)
def test_bad_sets_are_one_clear_line(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message):
        load_labeled_set(make(tmp_path), COCO_CLASSES)


def _write(path, text):
    path.write_text(text)
    return path
