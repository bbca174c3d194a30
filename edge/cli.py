"""``edgelabel-agent``: the edge agent's command line.

Each subcommand lives in ``edge.commands.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``. Domain errors (``AgentError``) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse

from edge.contract.command_line import run_handler
from edge.contract.errors import AgentError

COMMANDS = ("run", "detect", "inspect", "benchmark", "sample", "track", "mot_eval", "quantize", "dynamic_batch", "check_config",
            "models")
"""Modules under ``edge.commands``; each registers its own subcommand name (``mot_eval`` is ``mot-eval``)."""

DESCRIPTION = """\
edgelabel edge agent: sample keyframes from a camera or a clip, pre-label them with a detector
(ONNX Runtime or OpenVINO), and stream them to an edgelabel collector.

examples:
  edgelabel-agent run --source clip.mp4 --model yolox_nano.onnx --credentials cam-01.toml
  edgelabel-agent detect --model yolox_nano.onnx dog.jpg --json
  edgelabel-agent inspect --model yolox_nano.onnx --json
  edgelabel-agent sample --source clip.mp4 --model yolox_nano.onnx --report report
  edgelabel-agent track --source seq/img1 --model yolox_nano.onnx --mot-out seq.txt --classes person
  edgelabel-agent mot-eval --gt seq/gt/gt.txt --results seq.txt
  edgelabel-agent quantize --model yolox_nano.onnx --calibration clip.mp4 --out yolox_nano.int8.xml
  edgelabel-agent benchmark --model yolox_nano.int8.xml --source clip.mp4
  edgelabel-agent check-config /etc/edgelabel/agent.toml
  edgelabel-agent models --model-store /var/lib/edgelabel-agent/models
"""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="edgelabel-agent", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"edge.commands.{name}")
        module.add_parser(subparsers).set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_handler(f"edgelabel-agent {args.command}", lambda: args.handler(args), (AgentError,))


if __name__ == "__main__":
    raise SystemExit(main())
