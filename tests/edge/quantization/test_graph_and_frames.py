"""Graph preparation and frame sampling (clips, image directories, agents' spools), the quantizer's inputs."""

import cv2
import numpy as np
import onnx
import pytest

from edge.errors import ModelError, SourceError
from edge.quantization import graph
from edge.quantization.frames import sample_frames


def test_opset_is_upgraded_only_when_older(model_path):
    model = graph.load(model_path)
    assert graph.default_opset(model) == 11
    upgraded = graph.upgrade_opset(model, model_path)
    assert graph.default_opset(upgraded) == 13
    onnx.checker.check_model(upgraded)
    assert graph.upgrade_opset(upgraded, model_path) is upgraded


def test_unreadable_model_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelError, match=r"cannot load model .*bad\.onnx"):
        graph.load(bad)


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


def test_several_sources_share_the_sample(numbered_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for index in range(10):
        cv2.imwrite(str(other / f"{index:03d}.png"), np.full((40, 60, 3), 200 + index, np.uint8))
    sample = sample_frames([str(numbered_dir), str(other)], 8, 4, 100, progress=False)
    assert len(sample.calibration) == 8 and len(sample.held_out) == 4
    from_other = [f for f in sample.calibration + sample.held_out if f[0, 0, 0] >= 200]
    assert len(from_other) == 6 and sample.frames_read == 30
    assert str(other) in sample.description and str(numbered_dir) in sample.description


def test_an_agents_spool_is_a_calibration_source_read_without_changing_it(tmp_path, images_dir):
    from edge.contract.wire import FrameHeader
    from edge.spool import Spool

    spool = Spool(tmp_path / "spool", "cam-01", max_bytes=64 * 2**20, first_seq=lambda: 1)
    for name in ("darknet_dog.jpg", "darknet_horses.jpg", "yolov5_bus.jpg", "darknet_eagle.jpg"):
        image = cv2.imread(str(images_dir / name))
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        spool.add(FrameHeader(device="cam-01", seq=0, capture_ts=1.0, width=image.shape[1], height=image.shape[0],
                              model_id="m", class_names=("dog",)), jpeg)
    sample = sample_frames(str(tmp_path / "spool"), 3, 1, 100, progress=False)
    assert sample.frames_read == 4 and len(sample.calibration) == 3 and len(sample.held_out) == 1
    assert sample.description.startswith("spool ")
    assert spool.count == 4  # still there for the collector
    spool.close()
    # The spool file itself names it too.
    assert sample_frames(str(tmp_path / "spool" / "spool.db"), 1, 1, 100, progress=False).frames_read == 4
