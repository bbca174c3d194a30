"""Execution providers by name, with a logged fallback to CPU."""

import logging

import pytest

from edge.detection import OnnxDetector
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
        detector = OnnxDetector(model_path, providers=("cuda", "cpu"), warmup=False)
    assert detector.providers == ("CPUExecutionProvider",)
    assert "CUDAExecutionProvider" in caplog.text
