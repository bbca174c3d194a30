"""Runtimes behind the one detector: ONNX Runtime and OpenVINO on the real model, and their failures."""

import logging
import sys

import cv2
import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.detection import Detector
from edge.detection.runtimes import RuntimeSettings, resolved_runtime
from edge.errors import ModelError

pytest.importorskip("openvino", reason="the OpenVINO runtime is a dev dependency (the 'openvino' extra)")

DOG_CLASSES = {"dog", "bicycle", "car"}


@pytest.fixture(scope="module")
def dog_bgr(images_dir):
    return cv2.imread(str(images_dir / "darknet_dog.jpg"))


@pytest.fixture(scope="module")
def ir_model(model_path, tmp_path_factory):
    """The shared float model converted to OpenVINO IR, as OpenVINO's own tools write it."""
    import openvino as ov

    out = tmp_path_factory.mktemp("ir") / "yolox_nano.xml"
    ov.save_model(ov.Core().read_model(str(model_path)), str(out), compress_to_fp16=False)
    return out


def named(detector, detections) -> set[str]:
    return {detector.class_names[c] for c in detections.class_id}


def test_openvino_runs_the_onnx_model_like_onnxruntime(model_path, dog_bgr):
    on_ort = Detector(model_path, threads=2)
    on_ov = Detector(model_path, threads=2, runtime=RuntimeSettings(name="openvino", precision="f32"))
    ort_found, ov_found = on_ort.detect(dog_bgr), on_ov.detect(dog_bgr)
    assert named(on_ov, ov_found) >= DOG_CLASSES
    # Same pre- and post-processing, same float32 arithmetic up to kernel rounding.
    assert len(ort_found.xyxy) == len(ov_found.xyxy)
    np.testing.assert_allclose(ov_found.xyxy, ort_found.xyxy, atol=0.5)
    np.testing.assert_allclose(ov_found.confidence, ort_found.confidence, atol=2e-3)
    assert on_ort.runtime.tag == "ort-cpu" and on_ov.runtime.tag == "ov-cpu-f32"
    assert on_ov.deployed_id == f"{on_ov.model_id}@ov-cpu-f32"
    assert "openvino" in on_ov.runtime.description and "f32" in on_ov.runtime.description


def test_auto_runtime_follows_the_file_format(model_path, ir_model, dog_bgr):
    assert resolved_runtime(model_path, RuntimeSettings()) == "onnxruntime"
    assert resolved_runtime(ir_model, RuntimeSettings()) == "openvino"
    detector = Detector(ir_model, threads=2)
    assert detector.runtime.name == "openvino"
    assert named(detector, detector.detect(dog_bgr)) >= DOG_CLASSES
    # The id covers both files of the IR.
    other_weights = ir_model.with_suffix(".bin")
    data = bytearray(other_weights.read_bytes())
    copy = ir_model.parent / "copy"
    copy.mkdir()
    (copy / ir_model.name).write_bytes(ir_model.read_bytes())
    data[len(data) // 2] ^= 1  # a weight, not a shape constant
    (copy / other_weights.name).write_bytes(bytes(data))
    assert Detector(copy / ir_model.name, warmup=False).model_id != detector.model_id


def test_ir_on_onnxruntime_is_refused_with_the_fix(ir_model):
    with pytest.raises(ModelError, match=r"is an OpenVINO IR file: run it with --runtime openvino"):
        Detector(ir_model, runtime=RuntimeSettings(name="onnxruntime"))


def test_ir_without_its_weights_file_is_a_model_error(ir_model, tmp_path):
    lonely = tmp_path / ir_model.name
    lonely.write_bytes(ir_model.read_bytes())
    with pytest.raises(ModelError, match=r"weights file yolox_nano\.bin is missing"):
        Detector(lonely)


def test_corrupt_ir_is_one_line(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<net><layers><layer id='0'")
    broken.with_suffix(".bin").write_bytes(b"\x00" * 16)
    with pytest.raises(ModelError, match=r"cannot load model .*broken\.xml") as raised:
        Detector(broken)
    assert "\n" not in str(raised.value)


def test_default_precision_is_what_the_cpu_picks_and_is_named(model_path):
    detector = Detector(model_path, threads=2, runtime=RuntimeSettings(name="openvino", precision="default"))
    # bf16 on CPUs with AMX or AVX-512 BF16, f32 elsewhere; either way the tag says which.
    assert detector.runtime.precision in ("bf16", "f32", "f16")
    assert detector.runtime.tag == f"ov-cpu-{detector.runtime.precision}"


def test_unavailable_openvino_device_falls_back_to_cpu_with_a_warning(model_path, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        detector = Detector(model_path, warmup=False, runtime=RuntimeSettings(name="openvino", device="NPU"))
    assert detector.runtime.device == "CPU"
    assert "OpenVINO device NPU is not available" in caplog.text


def test_missing_openvino_says_which_extra_to_install(model_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` sees when it is not installed
    with pytest.raises(ModelError, match=r"pip install 'edgelabel\[openvino\]'") as raised:
        Detector(model_path, runtime=RuntimeSettings(name="openvino"))
    assert "\n" not in str(raised.value)


def test_runtime_settings_are_checked():
    with pytest.raises(ConfigError, match="runtime must be one of auto, onnxruntime, openvino"):
        RuntimeSettings(name="tensorflow")
    with pytest.raises(ConfigError, match="precision must be one of"):
        RuntimeSettings(precision="int4")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_streams_run_side_by_side_and_agree_with_one(model_path, images_dir, runtime):
    from concurrent.futures import ThreadPoolExecutor

    images = [cv2.imread(str(p)) for p in sorted(images_dir.glob("*.jpg"))]
    single = Detector(model_path, threads=1, runtime=RuntimeSettings(name=runtime))
    double = Detector(model_path, threads=2, runtime=RuntimeSettings(name=runtime, streams=2))
    assert double.streams == 2 and "2 streams" in double.runtime.description
    with ThreadPoolExecutor(2) as workers:
        together = list(workers.map(double.detect, images))
    for image, found in zip(images, together):
        expected = single.detect(image)
        np.testing.assert_allclose(found.xyxy, expected.xyxy, atol=0.5)
        assert list(found.class_id) == list(expected.class_id)
