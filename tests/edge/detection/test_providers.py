"""Execution providers by name, with a logged fallback to CPU."""

import logging

import pytest

from edge.detection import Detector
from edge.detection.runtimes import RuntimeSettings
from edge.detection.session import provider_name, usable_providers


@pytest.mark.parametrize(
    "given, expected",
    [
        ("cpu", "CPUExecutionProvider"),
        ("CUDA", "CUDAExecutionProvider"),
        ("tensorrt", "TensorrtExecutionProvider"),
        ("trt", "TensorrtExecutionProvider"),
        ("OpenVINO", "OpenVINOExecutionProvider"),
        ("openvinoexecutionprovider", "OpenVINOExecutionProvider"),
        ("CUDAExecutionProvider", "CUDAExecutionProvider"),
        ("NoSuchThing", "NoSuchThing"),
    ],
)
def test_short_and_long_names(given, expected):
    assert provider_name(given) == expected


def test_unavailable_providers_fall_back_to_cpu_with_one_warning(caplog):
    # This machine's onnxruntime has no CUDA, TensorRT or OpenVINO provider.
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        usable = usable_providers(["cuda", "tensorrt", "openvino", "cpu"])
    assert usable == ["CPUExecutionProvider"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    for name in ("CUDAExecutionProvider", "TensorrtExecutionProvider", "OpenVINOExecutionProvider"):
        assert name in warnings[0].getMessage()


def test_cpu_is_always_appended_and_a_lone_string_is_one_name():
    assert usable_providers("cpu") == ["CPUExecutionProvider"]
    assert usable_providers([]) == ["CPUExecutionProvider"]


def test_detector_accepts_short_names_and_runs_on_cpu(model_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        detector = Detector(model_path, runtime=RuntimeSettings(providers=("cuda", "cpu")), warmup=False)
    assert detector.providers == ("CPUExecutionProvider",)
    assert "CUDAExecutionProvider" in caplog.text


def test_tensorrt_with_its_options_falls_back_to_cpu_cleanly(model_path, images_dir, caplog):
    # The Jetson configuration on a machine without TensorRT: one warning, then a working CPU detector.
    import cv2

    from edge.detection.tensorrt import TENSORRT, tensorrt_provider_options

    options = {TENSORRT: tensorrt_provider_options(fp16=True, engine_cache_dir="/var/cache/edgelabel/trt")}
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        detector = Detector(model_path, threads=2, runtime=RuntimeSettings(
            providers=("tensorrt", "cuda", "cpu"), provider_options=options))
    assert detector.providers == ("CPUExecutionProvider",) and detector.runtime.tag == "ort-cpu"
    assert "TensorrtExecutionProvider" in caplog.text and "using CPU instead" in caplog.text
    found = detector.detect(cv2.imread(str(images_dir / "darknet_dog.jpg")))
    assert "dog" in {detector.class_names[c] for c in found.class_id}
