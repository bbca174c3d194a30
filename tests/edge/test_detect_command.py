"""``detect`` subcommand, driven through its own argparse registration (the CLI module only dispatches)."""

import argparse
import json
import re

import pytest

from edge.commands import detect
from edge.contract.errors import AgentError
from edge.errors import ModelError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    detect.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["detect", *argv])


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exited:
        parse("--help")
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    assert "example:" in help_text and "edgelabel-agent detect --model yolox-nano" in help_text


def test_model_and_image_are_required(capsys):
    with pytest.raises(SystemExit):
        parse("image.jpg")
    with pytest.raises(SystemExit):
        parse("--model", "m.onnx")
    capsys.readouterr()


def test_options_parse():
    args = parse(
        "--model", "m.onnx", "a.jpg", "b.png", "--json", "--score-threshold", "0.5", "--iou-threshold", "0.6",
        "--threads", "2", "--provider", "CUDAExecutionProvider", "--provider", "CPUExecutionProvider",
    )  # fmt: skip
    assert [str(p) for p in args.images] == ["a.jpg", "b.png"]
    assert (args.json, args.score_threshold, args.iou_threshold, args.threads) == (True, 0.5, 0.6, 2)
    assert args.provider == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_json_output_on_real_images(model_path, images_dir, capsys):
    dog, zidane = images_dir / "darknet_dog.jpg", images_dir / "yolov5_zidane.jpg"
    code = detect.run(parse("--model", str(model_path), str(dog), str(zidane), "--json", "--threads", "2"))
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    doc = json.loads(captured.out)
    assert doc["model"].startswith("yolox_nano-") and len(doc["classes"]) == 80
    first, second = doc["images"]
    assert (first["path"], first["width"], first["height"]) == (str(dog), 768, 576)
    assert {d["class_name"] for d in first["detections"]} >= {"dog", "bicycle", "car"}
    assert second["width"] == 1280 and {d["class_name"] for d in second["detections"]} >= {"person", "tie"}
    box = first["detections"][0]
    assert set(box) == {"class_id", "class_name", "score", "xyxy"}
    assert doc["classes"][box["class_id"]] == box["class_name"] == "dog" and len(box["xyxy"]) == 4


def test_unreadable_images_are_named_and_skipped(model_path, images_dir, tmp_path, capsys):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a JPEG")
    missing = tmp_path / "missing.jpg"
    dog = images_dir / "darknet_dog.jpg"
    code = detect.run(parse("--model", str(model_path), str(not_an_image), str(dog), str(missing), "--json"))
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert errors == [
        f"error: cannot read image {not_an_image}: not a decodable image",
        f"error: cannot read image {missing}: No such file or directory",
    ]
    assert [image["path"] for image in json.loads(captured.out)["images"]] == [str(dog)]


def test_table_output(model_path, images_dir, capsys):
    code = detect.run(parse("--model", str(model_path), str(images_dir / "darknet_dog.jpg")))
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"darknet_dog\.jpg  768x576  \d+ detections  \(tiles: none\)\n", out)
    dog_row = next(line for line in out.splitlines() if line.strip().startswith("dog"))
    assert float(dog_row.split()[1]) == pytest.approx(0.855, abs=0.005)


def test_bad_model_is_an_agent_error_for_the_cli_to_print(tmp_path, images_dir):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx")
    with pytest.raises(ModelError):
        detect.run(parse("--model", str(garbage), str(images_dir / "darknet_dog.jpg")))
    with pytest.raises(AgentError, match="unknown model 'no-such-model'"):
        detect.run(parse("--model", "no-such-model", str(images_dir / "darknet_dog.jpg")))
