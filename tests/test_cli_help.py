"""Every subcommand of both programs has --help with an example, and it works without heavy imports."""

import subprocess
import sys

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


def test_design_cli_surface_exists():
    agent = dict(subcommand_paths(agent_parser()))
    collector = dict(subcommand_paths(collector_parser()))
    assert {("run",), ("detect",), ("track",), ("quantize",), ("benchmark",), ("sample",)} <= set(agent)
    assert {("serve",), ("keys",), ("keys", "add-device"), ("stats",), ("demo",)} <= set(collector)
    run_help = agent[("run",)].format_help()
    for flag in ("--source", "--model", "--collector", "--credentials", "--insecure", "--runtime"):
        assert flag in run_help
    for command in ("detect", "benchmark", "sample", "track"):
        assert "--runtime" in agent[(command,)].format_help()
    for flag in ("--target", "--calibration", "--max-loss", "--eval"):
        assert flag in agent[("quantize",)].format_help()
    serve_help = collector[("serve",)].format_help()
    for flag in ("--data-dir", "--ingest", "--insecure"):
        assert flag in serve_help


@pytest.mark.parametrize("argv", [["-m", "edge", "--help"], ["-m", "server", "--help"], ["-m", "edge", "run", "--help"]])
def test_help_runs_as_a_module(argv):
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "example" in result.stdout


def test_run_requires_choosing_security_explicitly():
    result = subprocess.run([sys.executable, "-m", "edge", "run", "--source", "x.mp4", "--model", "m.onnx"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--credentials" in result.stderr and "--insecure" in result.stderr
