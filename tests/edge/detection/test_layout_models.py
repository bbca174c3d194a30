"""Every supported layout on real weights: the YOLOX-Nano graph re-expressed as each family's export.

Two checks per layout. The semantic one: the model finds the dog, bicycle and car of
darknet_dog.jpg where the raw YOLOX model finds them. The exact one: its boxes equal what the raw
model's own decoder gives on the same letterboxed pixels (Ultralytics-style models see the frame
centred, RGB 0-1, so the raw model is fed that canvas converted back to BGR 0-255).
"""

import logging

import cv2
import numpy as np
import pytest

from edge.detection import COCO_CLASSES, Detector
from edge.detection.decode import decode_yolox, select_and_nms, yolox_grids
from edge.detection.letterbox import ULTRALYTICS_INPUT, YOLOX_INPUT, letterbox_as, unletterbox_xyxy
from edge.detection.session import open_session
from edge.errors import ModelError
from tests.edge.detection import layout_models

EXPECTED = ("dog", "bicycle", "car")


@pytest.fixture(scope="module")
def dog_bgr(images_dir):
    return cv2.imread(str(images_dir / "darknet_dog.jpg"))


@pytest.fixture(scope="module")
def raw_detections(model_path, dog_bgr):
    detector = Detector(model_path, threads=2)
    return detector.detect(dog_bgr)


def pixel_iou(a, b) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def best_box(detections, class_name):
    mine = [i for i, c in enumerate(detections.class_id) if COCO_CLASSES[c] == class_name]
    assert mine, f"no {class_name} found"
    best = max(mine, key=lambda i: detections.confidence[i])
    return detections.xyxy[best], float(detections.confidence[best])


def reference_on_centred_canvas(model_path, image_bgr, score_threshold=0.3):
    """The raw model and its own YOLOX decoder, fed the Ultralytics-style canvas as BGR 0-255."""
    boxed = letterbox_as(image_bgr, (416, 416), ULTRALYTICS_INPUT)
    bgr_255 = boxed.tensor[:, ::-1] * 255.0
    session = open_session(model_path, 2, ["CPUExecutionProvider"])
    raw = session.run(None, {"images": np.ascontiguousarray(bgr_255, np.float32)})[0]
    grids = yolox_grids((416, 416))
    selected = select_and_nms(*decode_yolox(raw[0], grids.grid_xy, grids.stride), score_threshold, 0.45, 300)
    return unletterbox_xyxy(selected.xyxy, boxed.scale, image_bgr.shape[:2], boxed.offset_xy), selected


@pytest.mark.parametrize(
    "build, layout",
    [
        (lambda src, d: layout_models.build_yolov5(src, d / "v5.onnx"), "yolov5"),
        (lambda src, d: layout_models.build_yolov5(src, d / "v6.onnx", anchors_per_cell=1), "yolov5"),
        (lambda src, d: layout_models.build_yolov8(src, d / "v8.onnx"), "yolov8"),
        (lambda src, d: layout_models.build_end_to_end(src, d / "e2e6.onnx", "rows6"), "end2end"),
        (lambda src, d: layout_models.build_end_to_end(src, d / "e2e7.onnx", "rows7"), "end2end"),
        (lambda src, d: layout_models.build_end_to_end(src, d / "e2es.onnx", "separate"), "end2end"),
    ],
    ids=[
        "yolov5-3-anchors",
        "decoded-anchor-free",
        "yolov8",
        "end2end-rows6",
        "end2end-rows7",
        "end2end-separate",
    ],
)
def test_each_layout_finds_what_the_raw_model_finds(build, layout, model_path, tmp_path, dog_bgr, raw_detections):
    detector = Detector(build(model_path, tmp_path), threads=2)
    assert detector.layout == layout
    assert detector.input_format == ULTRALYTICS_INPUT and detector.class_names == COCO_CLASSES
    found = detector.detect(dog_bgr)
    for name in EXPECTED:
        raw_xyxy, raw_score = best_box(raw_detections, name)
        xyxy, score = best_box(found, name)
        # Same object; the score moves a little because the frame sits centred, not top-left.
        assert pixel_iou(xyxy, raw_xyxy) > 0.85, (name, xyxy, raw_xyxy)
        assert score == pytest.approx(raw_score, abs=0.35) and score >= 0.3

    expected_xyxy, expected = reference_on_centred_canvas(model_path, dog_bgr)
    np.testing.assert_allclose(found.xyxy, expected_xyxy, atol=0.05)
    np.testing.assert_allclose(found.confidence, expected.confidence, atol=1e-4)
    np.testing.assert_array_equal(found.class_id, expected.class_id)


def test_raw_yolox_is_recognised_by_probing_and_keeps_its_own_preprocessing(model_path):
    detector = Detector(model_path, warmup=False)
    assert detector.layout == "yolox" and detector.input_format == YOLOX_INPUT


def test_ultralytics_metadata_names_the_classes(model_path, tmp_path, dog_bgr):
    titled = [name.title() for name in COCO_CLASSES]
    path = layout_models.build_yolov8(
        model_path, tmp_path / "named.onnx", metadata=layout_models.ultralytics_metadata(titled)
    )
    detector = Detector(path)
    assert detector.class_names[16] == "Dog"
    assert {detector.class_names[c] for c in detector.detect(dog_bgr).class_id} >= {"Dog", "Bicycle", "Car"}


def test_given_names_win_over_metadata(model_path, tmp_path):
    path = layout_models.build_yolov8(
        model_path, tmp_path / "named.onnx", metadata=layout_models.ultralytics_metadata()
    )
    names = [f"c{i}" for i in range(80)]
    assert Detector(path, class_names=names, warmup=False).class_names == tuple(names)


def test_metadata_settles_the_ambiguous_decoded_layout_without_a_probe(model_path, tmp_path):
    path = layout_models.build_yolov5(
        model_path, tmp_path / "v6meta.onnx", anchors_per_cell=1, metadata=layout_models.ultralytics_metadata()
    )
    assert Detector(path, warmup=False).layout == "yolov5"


def test_end2end_metadata_flag(model_path, tmp_path, dog_bgr):
    path = layout_models.build_end_to_end(
        model_path, tmp_path / "e2e.onnx", metadata=layout_models.ultralytics_metadata(end2end=True)
    )
    assert Detector(path).layout == "end2end"


def test_non_detection_task_in_metadata_is_refused(model_path, tmp_path):
    path = layout_models.build_yolov8(
        model_path, tmp_path / "pose.onnx", metadata=layout_models.ultralytics_metadata(task="pose")
    )
    with pytest.raises(ModelError, match=r"is a 'pose' model .*only detection models are supported"):
        Detector(path)


def test_forced_layout_overrides_recognition(model_path, tmp_path, dog_bgr, raw_detections):
    # A decoded anchor-free head read as raw YOLOX (the wrong guess --layout is there to fix) ...
    decoded = layout_models.build_yolov5(model_path, tmp_path / "v6.onnx", anchors_per_cell=1)
    assert Detector(decoded, layout="yolox", warmup=False).layout == "yolox"
    # ... and the raw model forced to its own layout behaves exactly as recognised.
    forced = Detector(model_path, layout="yolox").detect(dog_bgr)
    np.testing.assert_array_equal(forced.xyxy, raw_detections.xyxy)


@pytest.mark.parametrize("layout", ["yolov8", "end2end"])
def test_forced_layout_that_does_not_fit_names_what_it_needs(model_path, layout):
    with pytest.raises(ModelError) as caught:
        Detector(model_path, layout=layout)
    message = str(caught.value)
    assert f"layout {layout} needs" in message and "'output' [1, 3549, 85]" in message and "\n" not in message


def test_unknown_layout_is_refused(model_path):
    with pytest.raises(
        ModelError, match="unknown layout 'yolov99'; supported layouts: yolox, yolov5, yolov8, end2end"
    ):
        Detector(model_path, layout="yolov99")


def test_end2end_labels_beyond_the_class_names_are_dropped_with_a_warning(end_to_end_model, dog_bgr, caplog):
    # Two names for an 80-class model: only class ids 0 and 1 (person, bicycle) can be named.
    detector = Detector(end_to_end_model, class_names=["person", "bicycle"])
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        found = detector.detect(dog_bgr)
    assert set(found.class_id.tolist()) == {1}
    assert "returned class id" in caplog.text and "has only 2 class names" in caplog.text


def test_yolov5_layout_caps_and_thresholds_like_the_raw_model(yolov5_model, images_dir):
    capped = Detector(yolov5_model, score_threshold=0.01, max_detections=3, warmup=False)
    assert len(capped.detect(cv2.imread(str(images_dir / "yolov5_bus.jpg")))) == 3
