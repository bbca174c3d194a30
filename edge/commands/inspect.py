"""``edgelabel-agent inspect``: what the agent reads from a model file, without running it on images.

The collector's model registry (``edgelabel-collector models add``) runs this command instead of
importing the agent's detector, so a model is described by the same code that will run it on a
device: layout, class names, input size, file format and the file's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from edge.commands.detector_args import detector_from_args
from edge.commands.options import add_detector_options
from edge.detection.model_file import model_files, model_format

EPILOG = """\
example:
  edgelabel-agent inspect --model yolox_nano.onnx
  edgelabel-agent inspect --model best.onnx --json      # what 'edgelabel-collector models add' reads

The model is loaded (and run once on a blank input) exactly as 'run' and 'detect' would load it,
so a file the agent cannot use fails here with the same message.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect", help="describe a model file: layout, classes, input size, format, SHA-256",
        description="Load a model as the agent would and describe it.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    add_detector_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    detector = detector_from_args(args, pipelined=False)
    digest = hashlib.sha256()
    for path in model_files(detector.path):
        digest.update(path.read_bytes())
    doc = {
        "model_id": detector.model_id,
        "deployed_id": detector.deployed_id,
        "format": model_format(detector.path),
        "sha256": digest.hexdigest(),
        "layout": detector.layout,
        "input_hw": list(detector.input_hw),
        "classes": list(detector.class_names),
        "runtime": detector.runtime.tag,
    }
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in doc.items():
            shown = ", ".join(value) if key == "classes" else value
            print(f"{key}: {shown}")
    return 0
