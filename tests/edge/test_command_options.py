"""The agent's commands share their option groups, and every default comes from the config's fields."""

import dataclasses

import pytest

from edge.cli import build_parser
from edge.commands.options import DETECTOR_FLAGS, SOURCE_FLAGS, config_default
from edge.config import SCORE_THRESHOLD, DetectorConfig, SourceConfig, TrackerDefaults
from edge.contract.errors import ConfigError

# Each detecting command with the arguments it requires besides --model (and --source).
DETECTING = {
    "detect": ["--model", "m.onnx", "a.jpg"],
    "benchmark": ["--model", "m.onnx"],
    "sample": ["--model", "m.onnx", "--source", "a.mp4", "--report", "out"],
    "track": ["--model", "m.onnx", "--source", "a.mp4", "--mot-out", "a.txt"],
}
DETECTOR_FLAG_VALUES = [
    "--score-threshold", "0.25", "--runtime", "openvino", "--threads", "3", "--streams", "2", "--provider", "cuda",
    "--openvino-device", "GPU", "--precision", "f16", "--tiles", "2x4", "--tile-overlap", "0.1", "--no-full-frame",
    "--layout", "yolov8", "--labels", "names.txt",
]


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_config_default_reads_the_dataclass_field():
    assert config_default("detector.score_threshold") == DetectorConfig().score_threshold == SCORE_THRESHOLD
    assert config_default("detector.openvino.precision") == "f32"
    assert config_default("detector.providers") == ("CPUExecutionProvider",)
    assert config_default("source.image_fps") == SourceConfig().image_fps


@pytest.mark.parametrize("command", DETECTING)
def test_every_detecting_command_defaults_to_the_config_fields(command):
    args = parse(command, *DETECTING[command])
    expected = DetectorConfig()
    for dest, (_, key) in DETECTOR_FLAGS.items():
        if not hasattr(args, dest) or dest in ("model", "provider"):  # required / appended to: never a default
            continue
        assert getattr(args, dest) == config_default(key), f"{command} {dest}"
    assert args.score_threshold == expected.score_threshold
    assert args.provider is None


@pytest.mark.parametrize("command", DETECTING)
def test_every_detecting_command_takes_the_same_detector_flags(command):
    args = parse(command, *DETECTING[command], *DETECTOR_FLAG_VALUES)
    assert (args.score_threshold, args.runtime, args.threads, args.streams, args.provider) == (
        0.25, "openvino", 3, 2, ["cuda"])
    assert (args.openvino_device, args.precision, args.tiles, args.tile_overlap, args.full_frame) == (
        "GPU", "f16", "2x4", 0.1, False)
    assert (args.layout, args.labels) == ("yolov8", "names.txt")


def test_run_leaves_every_shared_flag_to_the_config_file():
    args = parse("run")
    for dest in (*DETECTOR_FLAGS, *SOURCE_FLAGS):
        assert getattr(args, dest) is None, dest


@pytest.mark.parametrize("command", ["sample", "track"])
def test_source_flags_default_to_the_config_fields(command):
    args = parse(command, *DETECTING[command])
    assert (args.image_fps, args.decoder) == (SourceConfig().image_fps, SourceConfig().decoder)
    assert args.detect_every == DetectorConfig().detect_every


def test_track_has_the_tracker_low_score_as_its_own_setting():
    args = parse("track", *DETECTING["track"])
    assert args.score_threshold == SCORE_THRESHOLD  # the same detector threshold as every command
    assert args.track_low_score == TrackerDefaults.low_score_threshold < SCORE_THRESHOLD
    assert args.track_buffer == TrackerDefaults.lost_track_buffer_frames


def test_track_low_score_errors_name_the_flag():
    from edge.commands.track import tracker_from_args
    from edge.tracking import ByteTracker

    args = parse("track", *DETECTING["track"], "--track-low-score", "0.9")
    with pytest.raises(ConfigError, match=r"^--track-low-score 0.9: low_score_threshold"):
        tracker_from_args(args, ByteTracker)
    tracker = tracker_from_args(parse("track", *DETECTING["track"]), ByteTracker)
    assert dataclasses.astuple(TrackerDefaults()) == (tracker.low_score_threshold, tracker.lost_track_buffer_frames)
