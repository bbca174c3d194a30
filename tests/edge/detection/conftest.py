"""Models in every supported layout, built once per session from the real YOLOX-Nano weights."""

from pathlib import Path

import pytest

from tests.edge.detection import layout_models


@pytest.fixture(scope="session")
def layout_dir(tmp_path_factory, model_path) -> Path:
    return tmp_path_factory.mktemp("layouts")


@pytest.fixture(scope="session")
def yolov5_model(layout_dir, model_path) -> Path:
    return layout_models.build_yolov5(model_path, layout_dir / "yolov5.onnx")


@pytest.fixture(scope="session")
def yolov8_model(layout_dir, model_path) -> Path:
    return layout_models.build_yolov8(model_path, layout_dir / "yolov8.onnx")


@pytest.fixture(scope="session")
def end_to_end_model(layout_dir, model_path) -> Path:
    return layout_models.build_end_to_end(model_path, layout_dir / "end2end.onnx")
