"""``edgelabel-agent quantize`` end to end on the real model and real footage."""

import argparse
import json
import shutil

import numpy as np
import pytest

from edge.commands import quantize
from edge.errors import ConfigError, ModelError, SourceError
from edge.quantization import QuantizationRejected

CLIP = "videos/pets09_s2l1_pedestrians_vtest_480x360.mp4"
QUICK = ("--calibration-frames", "16", "--eval-frames", "12", "--timing-runs", "5", "--no-progress")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    quantize.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["quantize", *argv])


def test_help_has_examples_and_explains_the_check(capsys):
    with pytest.raises(SystemExit) as exited:
        parse("--help")
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "edgelabel-agent quantize --model yolox_nano.onnx --calibration" in text
    for flag in (
        "--model",
        "--calibration",
        "--out",
        "--exclude-head",
        "--force",
        "--min-agreement",
        "--min-speedup",
    ):
        assert flag in text


@pytest.fixture(scope="module")
def accepted(model_path, data_dir, tmp_path_factory):
    """One quantization of the real model, calibrated and checked on the pets09 clip."""
    out = tmp_path_factory.mktemp("quantize") / "yolox_nano.int8.onnx"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(out),
                 "--min-agreement", "0.9", "--min-speedup", "0", *QUICK)  # fmt: skip
    code = quantize.run(args)
    return code, out


def test_accepted_model_is_written_with_its_report(accepted, capsys):
    code, out = accepted
    assert code == 0 and out.is_file()
    report = json.loads(out.with_name("yolox_nano.int8.report.json").read_text())
    assert report["written"] and report["accepted"] and report["layout"] == "yolox"
    assert report["frames_read"] == 795 and report["calibration_frames"] == 16 and report["held_out_frames"] == 12
    quant = report["quantization"]
    assert (quant["format"], quant["per_channel"], quant["calibration_method"]) == ("qdq", True, "minmax")
    assert quant["opset"] == [11, 13] and quant["excluded_nodes"] == []
    agreement = report["agreement"]
    # Pedestrians and the parked van: the float model's boxes are the reference.
    assert agreement["per_class"]["person"]["judged"] and agreement["per_class"]["person"]["reference_boxes"] >= 20
    assert 0.9 <= agreement["map50"] <= 1.0
    latency = report["latency"]
    assert latency["float_ms_median"] > 0 and latency["int8_ms_median"] > 0 and latency["threads"] == 2


def test_accepted_model_runs_as_a_detector(accepted, images_dir):
    import cv2

    from edge.detection import OnnxDetector

    _, out = accepted
    detector = OnnxDetector(out, intra_op_threads=2)
    assert detector.layout == "yolox"
    names = {
        detector.class_names[c] for c in detector.detect(cv2.imread(str(images_dir / "yolov5_bus.jpg"))).class_id
    }
    assert "person" in names


def test_graph_is_int8_per_channel(accepted):
    import onnx

    _, out = accepted
    model = onnx.load(str(out))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 100
    weight_scales = [
        init
        for init in model.graph.initializer
        if init.name.endswith("_scale") and len(init.dims) == 1 and init.dims[0] > 1
    ]
    assert weight_scales, "per-channel weights have one scale per output channel"


@pytest.fixture
def unrepresentative_dir(images_dir, tmp_path):
    """Black frames and real photos alternating: calibration (even places) sees only black."""
    photos = ["yolov5_bus.jpg", "darknet_kite.jpg", "yolov5_zidane.jpg", "darknet_person.jpg"]
    import cv2

    black = np.zeros((360, 480, 3), np.uint8)
    for index, name in enumerate(photos):
        cv2.imwrite(str(tmp_path / f"{2 * index:02d}_black.png"), black)
        shutil.copy(images_dir / name, tmp_path / f"{2 * index + 1:02d}_{name}")
    return tmp_path


@pytest.mark.slow
def test_calibration_on_unrepresentative_frames_is_refused_unless_forced(
    model_path, unrepresentative_dir, tmp_path, capsys
):
    out = tmp_path / "out" / "bad.int8.onnx"
    argv = ("--model", str(model_path), "--calibration", str(unrepresentative_dir), "--out", str(out),
            "--calibration-frames", "4", "--eval-frames", "4", "--timing-runs", "3", "--min-speedup", "0",
            "--no-progress")  # fmt: skip
    with pytest.raises(QuantizationRejected) as caught:
        quantize.run(parse(*argv))
    message = str(caught.value)
    assert "agreement mAP@0.5" in message and "is below 0.950" in message and "not written" in message
    assert "\n" not in message
    assert not out.exists() and not list(out.parent.glob(".*.part"))
    report = json.loads(out.with_name("bad.int8.report.json").read_text())
    assert report["accepted"] is False and report["written"] is False and report["agreement"]["map50"] < 0.95
    assert "agreement mAP@0.5" in capsys.readouterr().out  # the table is printed either way

    assert quantize.run(parse(*argv, "--force")) == 0
    assert out.is_file()
    assert json.loads(out.with_name("bad.int8.report.json").read_text())["written"] is True


@pytest.mark.slow
def test_speed_check_refuses_a_model_not_fast_enough(model_path, data_dir, tmp_path):
    out = tmp_path / "slow.int8.onnx"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(out),
                 "--min-agreement", "0", "--min-speedup", "100", "--exclude-head", *QUICK)  # fmt: skip
    with pytest.raises(
        QuantizationRejected, match=r"int8 runs [\d.]+x the speed of float here .*below --min-speedup 100"
    ):
        quantize.run(args)
    report = json.loads(out.with_name("slow.int8.report.json").read_text())
    # The head's output stage stayed float: the 9 prediction convs and everything after them.
    excluded = report["quantization"]["excluded_nodes"]
    assert len(excluded) == 23 and "Transpose_423" in excluded


def test_a_truncated_model_is_a_model_error(model_path, data_dir, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:100_000])
    with pytest.raises(ModelError, match=r"cannot load model .*truncated\.onnx"):
        quantize.run(parse("--model", str(truncated), "--calibration", str(data_dir / CLIP),
                           "--out", str(tmp_path / "o.onnx"), *QUICK))  # fmt: skip


def test_a_classifier_is_refused_before_any_work(tmp_path, data_dir):
    from tests.edge.test_detector import classifier_model

    with pytest.raises(ModelError, match="cannot tell the output layout"):
        quantize.run(parse("--model", str(classifier_model(tmp_path / "c.onnx")), "--calibration",
                           str(data_dir / CLIP), "--out", str(tmp_path / "o.onnx"), *QUICK))  # fmt: skip


def test_a_source_without_frames_is_a_source_error(model_path, tmp_path):
    empty = tmp_path / "frames"
    empty.mkdir()
    with pytest.raises(SourceError):
        quantize.run(
            parse(
                "--model", str(model_path), "--calibration", str(empty), "--out", str(tmp_path / "o.onnx"), *QUICK
            )
        )


def test_an_unknown_node_to_exclude_is_named(model_path, data_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"--exclude-node: no node named 'NoSuchNode'"):
        quantize.run(parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out",
                           str(tmp_path / "o.onnx"), "--exclude-node", "NoSuchNode", *QUICK))  # fmt: skip
    assert not list(tmp_path.glob("*.onnx*")) and not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--min-agreement", "1.5"), "--min-agreement must be in"),
        (("--min-speedup", "-1"), "--min-speedup must be at least 0"),
        (("--eval-frames", "0"), "--eval-frames must be at least 1"),
    ],
)
def test_bad_settings_are_config_errors(model_path, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        quantize.run(
            parse("--model", str(model_path), "--calibration", "x.mp4", "--out", str(tmp_path / "o.onnx"), *extra)
        )


def test_out_must_differ_from_the_model_and_be_onnx(model_path, tmp_path):
    with pytest.raises(ConfigError, match="--out must not be the input model"):
        quantize.run(parse("--model", str(model_path), "--calibration", "x.mp4", "--out", str(model_path)))
    with pytest.raises(ConfigError, match="--out should end in .onnx"):
        quantize.run(parse("--model", str(model_path), "--calibration", "x.mp4", "--out", str(tmp_path / "o.bin")))
