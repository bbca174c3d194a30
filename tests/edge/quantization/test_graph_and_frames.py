"""Graph preparation and frame sampling, the quantizer's inputs."""

import cv2
import numpy as np
import onnx
import pytest

from edge.errors import ConfigError, ModelError, SourceError
from edge.quantization import graph
from edge.quantization.calibrate import QuantizeOptions
from edge.quantization.frames import sample_frames


def test_opset_is_upgraded_only_when_older(model_path):
    model = graph.load(model_path)
    assert graph.default_opset(model) == 11
    upgraded = graph.upgrade_opset(model, model_path)
    assert graph.default_opset(upgraded) == 13
    onnx.checker.check_model(upgraded)
    assert graph.upgrade_opset(upgraded, model_path) is upgraded


def test_output_stage_of_yolox_is_its_prediction_convs_and_after(model_path):
    model = graph.load(model_path)
    stage = set(graph.output_stage(model))
    by_name = {node.name: node for node in model.graph.node}
    convs = [name for name in stage if by_name[name].op_type == "Conv"]
    assert len(convs) == 9  # cls, reg and obj predictions at strides 8, 16 and 32
    prediction_weights = {by_name[name].input[1].split(".")[1] for name in convs}
    assert prediction_weights == {"cls_preds", "reg_preds", "obj_preds"}
    assert "Transpose_423" in stage and len(stage) == 23
    # Nothing upstream of a prediction conv belongs to the stage.
    assert all(by_name[name].op_type != "MaxPool" for name in stage)


def test_unreadable_model_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelError, match=r"cannot load model .*bad\.onnx"):
        graph.load(bad)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="calibration method must be one of minmax, percentile"):
        QuantizeOptions(calibration_method="entropy")
    with pytest.raises(ConfigError, match="16-bit activations need the qdq format"):
        QuantizeOptions(quant_format="qoperator", activations="uint16")


@pytest.fixture
def numbered_dir(tmp_path):
    """20 frames whose pixel value is their index, so a sampled frame says where it came from."""
    for index in range(20):
        cv2.imwrite(str(tmp_path / f"{index:03d}.png"), np.full((40, 60, 3), index * 10, np.uint8))
    return tmp_path


def frame_index(image) -> int:
    return int(image[0, 0, 0]) // 10


def test_sample_is_disjoint_ordered_and_spread(numbered_dir):
    sample = sample_frames(
        str(numbered_dir), calibration_frames=8, held_out_frames=4, max_frames_read=100, progress=False
    )
    calibration = [frame_index(f) for f in sample.calibration]
    held_out = [frame_index(f) for f in sample.held_out]
    assert len(calibration) == 8 and len(held_out) == 4 and sample.frames_read == 20
    assert not set(calibration) & set(held_out)
    assert calibration == sorted(calibration) and held_out == sorted(held_out)
    # Reservoir sampling covers the whole source, not just its start.
    assert max(calibration + held_out) >= 12 and min(calibration + held_out) <= 7


def test_sample_is_repeatable(numbered_dir):
    first = sample_frames(str(numbered_dir), 5, 3, 100, progress=False)
    second = sample_frames(str(numbered_dir), 5, 3, 100, progress=False)
    assert [frame_index(f) for f in first.calibration] == [frame_index(f) for f in second.calibration]


def test_a_short_source_is_all_used_and_split(numbered_dir):
    sample = sample_frames(
        str(numbered_dir), calibration_frames=30, held_out_frames=10, max_frames_read=100, progress=False
    )
    assert len(sample.calibration) + len(sample.held_out) == 20 and sample.held_out


def test_reading_stops_at_the_limit(numbered_dir):
    sample = sample_frames(str(numbered_dir), 2, 1, max_frames_read=6, progress=False)
    assert sample.frames_read == 6
    assert max(frame_index(f) for f in sample.calibration + sample.held_out) < 6


def test_large_frames_are_shrunk_to_the_model_input(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((720, 1280, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((100, 200, 3), np.uint8))
    sample = sample_frames(str(tmp_path), 1, 1, 10, fit_hw=(416, 416), progress=False)
    assert sorted(f.shape for f in sample.calibration + sample.held_out) == [(100, 200, 3), (234, 416, 3)]


def test_a_source_with_one_frame_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "only.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(SourceError, match="gave 1 frames; at least 2 are needed"):
        sample_frames(str(tmp_path), 4, 2, 10, progress=False)
