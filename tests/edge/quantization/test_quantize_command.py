"""``edgelabel-agent quantize`` end to end: real NNCF quantization of the shared model, calibrated on
real footage, the written model run by the agent's own detector and judged by pycocotools."""

import argparse
import json

import cv2
import pytest

from edge.commands import quantize
from edge.contract.errors import ConfigError
from edge.detection import Detector
from edge.errors import ModelError
from edge.quantization import QuantizationRejected
from tests.coco_eval import coco_eval

pytest.importorskip("nncf", reason="NNCF comes with the quantize extra (in dev)")
pytest.importorskip("openvino", reason="OpenVINO comes with the openvino extra (in dev)")

CLIP = "videos/pets09_s2l1_pedestrians_vtest_480x360.mp4"
QUICK = ("--eval-frames", "16", "--timing-runs", "5", "--no-progress")
STEM = "Conv_41/WithoutBiases,Conv_47/WithoutBiases"
"""YOLOX-Nano's first two convolutions (after its space-to-depth stem), where most of the int8
error comes from: NNCF's accuracy control reverts these first when calibrated on mixed footage."""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    quantize.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["quantize", *argv])


def evaluation_detector(path, **kwargs):
    """YOLOX's own COCO evaluation settings, on the runtime the file is for."""
    return Detector(path, score_threshold=0.001, iou_threshold=0.65, max_detections=100, threads=2, **kwargs)


def dog_classes(path, images_dir) -> set[str]:
    detector = Detector(path, threads=2)
    found = detector.detect(cv2.imread(str(images_dir / "darknet_dog.jpg")))
    return {detector.class_names[c] for c in found.class_id}


def test_help_has_examples_and_the_budget_flags_parse(capsys):
    with pytest.raises(SystemExit) as exited:
        parse("--help")
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "edgelabel-agent quantize --model yolox_nano.onnx --calibration" in text
    args = parse("--model", "m.onnx", "--calibration", "a.mp4", "--calibration", "b", "--out", "m.xml",
                 "--target", "fp16", "--max-loss", "0.5", "--eval", "coco", "--max-float-layers", "3",
                 "--keep-float", "stem", "--force")
    assert (args.calibration, args.target, args.max_loss, args.eval) == (["a.mp4", "b"], "fp16", 0.5, "coco")
    assert (args.max_float_layers, args.keep_float, args.force) == (3, ["stem"], True)


SITE_FOOTAGE = ("videos/pets09_s2l1_pedestrians_vtest_480x360.mp4", "images", "videos/dashcam_highway_udacity_solidWhiteRight.mp4",
                "videos/parking_lot_overhead_cars_intel.mp4", "videos/indoor_people_one_by_one_intel.mp4")
"""Calibration footage of several cameras (people, cars, indoors, outdoors), none of it from COCO."""


@pytest.fixture(scope="module")
def openvino_int8(model_path, data_dir, tmp_path_factory):
    """int8 for OpenVINO calibrated on several cameras, the stem and the head kept in float, the
    budget measured in mAP on the 32 shared COCO images (measured: 0.04 points lost here, 0.8 on
    COCO128)."""
    out = tmp_path_factory.mktemp("openvino") / "yolox_nano.int8.xml"
    calibration = [arg for source in SITE_FOOTAGE for arg in ("--calibration", str(data_dir / source))]
    args = parse("--model", str(model_path), *calibration, "--eval", str(data_dir / "coco"), "--out", str(out),
                 "--target", "openvino", "--calibration-frames", "128", "--max-float-layers", "0",
                 "--keep-float", STEM, *QUICK)  # fmt: skip
    assert quantize.run(args) == 0
    return out


def test_openvino_int8_is_written_with_its_report(openvino_int8):
    assert openvino_int8.is_file() and openvino_int8.with_suffix(".bin").is_file()
    report = json.loads(openvino_int8.with_name("yolox_nano.int8.report.json").read_text())
    assert report["written"] and report["accepted"] and (report["target"], report["kind"]) == ("openvino", "int8")
    float_layers = report["layers"]["float"]
    # The stem as asked, and the nine prediction convolutions of the head (3 scales x cls, reg, obj).
    assert float_layers[:2] == STEM.split(",") and len(float_layers) == 11 and report["layers"]["weighted"] > 100
    accuracy = report["accuracy"]
    assert accuracy["controlling_metric"].startswith("mAP@[.5:.95] on 32 labeled images")
    assert accuracy["loss_points"] <= accuracy["max_loss_points"] == 1.0
    assert accuracy["agreement_per_class"]["person"]["reference_boxes"] >= 20
    labels = [row["label"] for row in report["rows"]]
    assert labels == ["float32 ort-cpu", "float32 ov-cpu-f32", "int8 ov-cpu-f32"]
    assert all(row["ms_median"] > 0 for row in report["rows"])
    assert report["rows"][2]["agreement_ap50"] >= 0.98 and report["rows"][0]["agreement_ap50"] == 1.0
    assert report["versions"]["openvino"] and report["versions"]["nncf"]


def test_openvino_int8_runs_in_detect_and_finds_the_dog(openvino_int8, images_dir):
    assert dog_classes(openvino_int8, images_dir) >= {"dog", "bicycle", "car"}


def test_openvino_int8_coco_map_is_within_the_budget_by_pycocotools(openvino_int8, model_path, data_dir):
    float_map, _ = coco_eval(evaluation_detector(model_path), data_dir / "coco")
    int8_detector = evaluation_detector(openvino_int8)
    assert int8_detector.runtime.tag == "ov-cpu-f32"
    int8_map, _ = coco_eval(int8_detector, data_dir / "coco")
    assert float_map - int8_map <= 0.01, f"float {float_map:.4f}, int8 {int8_map:.4f}"


def test_onnxruntime_target_writes_a_qdq_model_detect_runs(model_path, data_dir, images_dir, tmp_path):
    out = tmp_path / "yolox_nano.qdq.onnx"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(out),
                 "--target", "onnxruntime", "--calibration-frames", "32", "--max-float-layers", "0", "--force", *QUICK)
    assert quantize.run(args) == 0
    import onnx

    operators = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    assert Detector(out, warmup=False).runtime.tag == "ort-cpu"
    assert dog_classes(out, images_dir) >= {"dog", "bicycle", "car"}
    report = json.loads(out.with_name("yolox_nano.qdq.report.json").read_text())
    assert [row["label"] for row in report["rows"]] == ["float32 ort-cpu", "int8 ort-cpu"]


def test_fp16_target_keeps_float_inputs_and_finds_the_dog(model_path, data_dir, images_dir, tmp_path, capsys):
    out = tmp_path / "yolox_nano.fp16.onnx"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(out),
                 "--target", "fp16", "--calibration-frames", "4", *QUICK)
    assert quantize.run(args) == 0
    assert dog_classes(out, images_dir) >= {"dog", "bicycle", "car"}
    report = json.loads(out.with_name("yolox_nano.fp16.report.json").read_text())
    assert report["kind"] == "fp16" and report["accuracy"]["loss_points"] <= 1.0
    # The model id said is the written file's (its name and bytes), not that of a temporary file.
    model_id = Detector(out, warmup=False).model_id
    assert report["model_id"] == model_id and model_id.startswith("yolox_nano.fp16-")
    assert f"wrote {out} (model id {model_id})" in capsys.readouterr().out


@pytest.fixture(scope="module")
def everything_int8(model_path, data_dir, tmp_path_factory):
    """The over-aggressive setting: every layer int8 (the head too), no float fallback, calibrated on
    one pedestrian camera only and judged on COCO (measured: about 3 points lost)."""
    out = tmp_path_factory.mktemp("aggressive") / "yolox_nano.int8.xml"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--eval", str(data_dir / "coco"),
                 "--out", str(out), "--calibration-frames", "64", "--max-float-layers", "0", "--head", "int8",
                 *QUICK)  # fmt: skip
    with pytest.raises(QuantizationRejected) as refused:
        quantize.run(args)
    return out, str(refused.value)


def test_over_aggressive_quantization_is_refused_with_a_report_naming_the_loss(everything_int8, capsys):
    out, message = everything_int8
    assert "misses the accuracy budget" in message and "--force" in message
    assert not out.exists() and not out.with_suffix(".bin").exists()
    report = json.loads(out.with_name("yolox_nano.int8.report.json").read_text())
    assert not report["written"] and not report["accepted"]
    assert report["accuracy"]["loss_points"] > 1.0
    assert f"a loss of {report['accuracy']['loss_points']:.2f} points, over the budget of 1" in report["reason"]
    assert report["layers"]["float"] == []


@pytest.mark.slow
def test_accuracy_control_puts_the_most_harmful_layers_back_in_float(everything_int8, model_path, data_dir, tmp_path):
    """The same setting with accuracy control: NNCF ranks the quantized layers by harm on held-out
    COCO images and reverts the worst (one here: ranking 95 layers takes two minutes on two cores)."""
    aggressive = json.loads(everything_int8[0].with_name("yolox_nano.int8.report.json").read_text())
    out = tmp_path / "controlled.int8.xml"
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--eval", str(data_dir / "coco"),
                 "--out", str(out), "--calibration-frames", "64", "--head", "int8", "--max-float-layers", "1",
                 "--ranking-frames", "4", "--force", *QUICK)  # fmt: skip
    assert quantize.run(args) == 0
    report = json.loads(out.with_name("controlled.int8.report.json").read_text())
    assert len(report["layers"]["float"]) == 1
    assert report["accuracy"]["loss_points"] < aggressive["accuracy"]["loss_points"]


def test_corrupt_model_is_one_clear_error(data_dir, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07not a model at all")
    args = parse("--model", str(broken), "--calibration", str(data_dir / CLIP), "--out", str(tmp_path / "o.xml"), *QUICK)
    with pytest.raises(ModelError, match=r"cannot load model .*broken\.onnx") as raised:
        quantize.run(args)
    assert "\n" not in str(raised.value)


def test_missing_openvino_names_the_extra(model_path, data_dir, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` sees when it is not installed
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(tmp_path / "o.xml"),
                 "--calibration-frames", "4", *QUICK)
    with pytest.raises(ModelError, match=r"pip install 'edgelabel\[openvino\]'"):
        quantize.run(args)


@pytest.mark.parametrize(
    "extra, out_name, message",
    [
        (("--target", "openvino"), "model.onnx", r"--out for --target openvino should end in \.xml"),
        (("--target", "onnxruntime"), "model.xml", r"--out for --target onnxruntime should end in \.onnx"),
        (("--max-loss", "-1"), "m.xml", r"--max-loss must be in \[0, 100\]"),
        (("--calibration-frames", "0"), "m.xml", "--calibration-frames must be at least 1"),
        (("--keep-float", "NoSuchLayer", "--max-float-layers", "0", "--calibration-frames", "4"), "m.xml",
         "--keep-float"),
    ],
)
def test_bad_arguments_are_config_errors(model_path, data_dir, tmp_path, extra, out_name, message):
    args = parse("--model", str(model_path), "--calibration", str(data_dir / CLIP), "--out", str(tmp_path / out_name),
                 *QUICK, *extra)
    with pytest.raises(ConfigError, match=message):
        quantize.run(args)
