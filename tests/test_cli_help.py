"""Every subcommand of both programs has --help with an example, and it works without heavy imports."""

import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser as agent_parser
from server.cli import build_parser as collector_parser


def subcommand_paths(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from subcommand_paths(sub, (*prefix, name))


@pytest.mark.parametrize("program, build", [("edge", agent_parser), ("server", collector_parser)])
def test_every_subcommand_has_help_with_an_example(program, build):
    paths = list(subcommand_paths(build()))
    assert paths
    for path, sub in paths:
        text = sub.format_help()
        assert "example" in text, f"{program} {' '.join(path)} --help has no example"


# Command lines of the CLI surface in DESIGN.md that exist today, each with what it must parse to.
AGENT_SURFACE = [
    ("run --source a.mp4 --source gate=rtsp://cam/1 --model m.onnx --collector tcp://h:5555 --collector tcp://g:5555 "
     "--credentials c.toml --spool-dir spool --runtime openvino --tiles 2x4 --pace 1.5 --keyframes-per-minute 6",
     {"source": ["a.mp4", "gate=rtsp://cam/1"], "model": "m.onnx", "collector": ["tcp://h:5555", "tcp://g:5555"],
      "credentials": "c.toml", "spool_dir": Path("spool"), "runtime": "openvino", "tiles": "2x4", "pace": 1.5,
      "keyframes_per_minute": 6.0}),
    ("run --source a.mp4 --model m.onnx --collector tcp://h:5555 --insecure", {"insecure": True}),
    ("detect --model m.onnx a.jpg b.jpg --json --runtime onnxruntime --tiles auto --score-threshold 0.5",
     {"model": "m.onnx", "images": [Path("a.jpg"), Path("b.jpg")], "json": True, "runtime": "onnxruntime",
      "tiles": "auto", "score_threshold": 0.5}),
    ("benchmark --model m.onnx --runtime openvino --threads 2 --json",
     {"model": "m.onnx", "runtime": "openvino", "threads": 2, "json": True}),
    ("track --source seq/img1 --model m.onnx --mot-out seq.txt --classes person",
     {"source": "seq/img1", "model": "m.onnx", "mot_out": Path("seq.txt"), "classes": ["person"]}),
    ("sample --source a.mp4 --model m.onnx --report out --keyframes-per-minute 4",
     {"source": "a.mp4", "model": "m.onnx", "report": Path("out"), "keyframes_per_minute": 4.0}),
    ("quantize --model m.onnx --calibration a.mp4 --out m.int8.xml --target onnxruntime",
     {"model": "m.onnx", "calibration": ["a.mp4"], "out": Path("m.int8.xml"), "target": "onnxruntime"}),
    ("check-config agent.toml", {"file": Path("agent.toml")}),
]
COLLECTOR_SURFACE = [
    ("serve --data-dir d --ingest tcp://0.0.0.0:5555 --insecure",
     {"data_dir": Path("d"), "ingest": "tcp://0.0.0.0:5555", "insecure": True}),
    ("keys add-device cam-01 --data-dir d --endpoint tcp://h:5555 --out c.toml",
     {"name": "cam-01", "data_dir": Path("d"), "endpoint": ["tcp://h:5555"], "out": Path("c.toml")}),
    ("keys add-device cam-01 --data-dir d --endpoint tcp://h:5555 --endpoint tcp://g:5555 --out c.toml",
     {"endpoint": ["tcp://h:5555", "tcp://g:5555"]}),
    ("stats --data-dir d --json", {"data_dir": Path("d"), "json": True}),
    ("demo", {}),
]


@pytest.mark.parametrize("program, build, line, expected",
                         [("agent", agent_parser, *case) for case in AGENT_SURFACE]
                         + [("collector", collector_parser, *case) for case in COLLECTOR_SURFACE])
def test_design_cli_surface_parses(program, build, line, expected):
    args = build().parse_args(line.split())
    assert {name: getattr(args, name) for name in expected} == expected, f"{program} {line}"


@pytest.mark.parametrize("argv", [["-m", "edge", "--help"], ["-m", "server", "--help"], ["-m", "edge", "run", "--help"]])
def test_help_runs_as_a_module(argv):
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "example" in result.stdout


def test_run_requires_choosing_security_explicitly():
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--source", "x.mp4", "--model", "m.onnx"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--credentials" in result.stderr and "--insecure" in result.stderr
