"""``edgelabel-agent detect`` on other layouts, with --layout, --labels and short provider names."""

import argparse
import json

import pytest

from edge.commands import detect
from edge.contract.errors import ConfigError
from edge.errors import ModelError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    detect.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["detect", *argv])


def test_yolov8_export_with_a_labels_file(yolov8_model, images_dir, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"thing_{i}\n" for i in range(80)))
    dog = images_dir / "darknet_dog.jpg"
    code = detect.run(parse("--model", str(yolov8_model), str(dog), "--json", "--labels", str(labels),
                            "--provider", "cuda", "--threads", "2"))  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)
    assert doc["layout"] == "yolov8" and doc["classes"][16] == "thing_16"
    assert {d["class_name"] for d in doc["images"][0]["detections"]} >= {"thing_16", "thing_1", "thing_2"}


def test_end_to_end_export_in_the_table(end_to_end_model, images_dir, capsys):
    assert detect.run(parse("--model", str(end_to_end_model), str(images_dir / "darknet_dog.jpg"))) == 0
    out = capsys.readouterr().out
    assert "(end2end layout)" in out and any(line.strip().startswith("dog") for line in out.splitlines())


def test_layout_flag_is_passed_through(model_path, images_dir):
    with pytest.raises(ModelError, match="layout yolov8 needs"):
        detect.run(parse("--model", str(model_path), str(images_dir / "darknet_dog.jpg"), "--layout", "yolov8"))


def test_unknown_layout_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        parse("--model", "m.onnx", "a.jpg", "--layout", "yolov99")
    assert "invalid choice: 'yolov99'" in capsys.readouterr().err


def test_labels_that_do_not_fit_the_model(model_path, images_dir, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    with pytest.raises(ModelError, match="predicts 80 classes, but 2 class names were given"):
        detect.run(parse("--model", str(model_path), str(images_dir / "darknet_dog.jpg"), "--labels", str(labels)))
    with pytest.raises(ConfigError, match="cannot read labels file"):
        detect.run(
            parse("--model", str(model_path), str(images_dir / "darknet_dog.jpg"), "--labels", str(tmp_path))
        )
