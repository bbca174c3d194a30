"""``edgelabel-agent benchmark`` on the real model: ONNX Runtime and OpenVINO, real footage."""

import json
import subprocess
import sys

import pytest

from tests.conftest import DATA_DIR, MODEL_PATH, REPO_DIR

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def benchmark(*args):
    return subprocess.run([sys.executable, "-m", "edge", "benchmark", *map(str, args)], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=300)


def test_onnx_model_on_real_footage_reports_medians_and_fps():
    result = benchmark("--model", MODEL_PATH, "--source", PETS09, "--frames", "20", "--warmup", "2",
                       "--threads", "2", "--streams", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["runtime"] == "ort-cpu" and report["frames"] == 20 and report["streams"] == 1
    assert 0 < report["inference_ms_median"] <= report["detect_ms_median"]
    # One frame at a time: the throughput is about the inverse of the per-frame time.
    assert report["fps"] == pytest.approx(1000 / report["detect_ms_median"], rel=0.5)
    assert report["boxes_per_frame"] >= 2  # pedestrians and parked vehicles in every frame


def test_openvino_runtime_with_two_streams_and_the_human_readable_table():
    pytest.importorskip("openvino")
    result = benchmark("--model", MODEL_PATH, "--runtime", "openvino", "--frames", "10", "--threads", "2",
                       "--streams", "2")
    assert result.returncode == 0, result.stderr
    assert "openvino" in result.stdout and "f32 float layers" in result.stdout and "in 2 streams" in result.stdout
    assert "a grey 416x416 frame" in result.stdout and "fps with 2 frames in detection at once" in result.stdout


def test_unreadable_model_is_one_line():
    result = benchmark("--model", DATA_DIR / "images" / "darknet_dog.jpg", "--frames", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot load model" in result.stderr
