"""``edgelabel-agent dynamic-batch``: a copy of an ONNX detector that takes several views at once."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.commands.options import add_logging_options, configure_logging
from edge.contract.errors import ConfigError

EPILOG = """\
example:
  edgelabel-agent dynamic-batch --model yolox_nano.onnx --out yolox_nano.batch.onnx
  edgelabel-agent run --model yolox_nano.batch.onnx --tiles auto ...   # a frame's tiles in one inference

Many exports fix the batch at 1. This names the first dimension of the inputs and outputs
'batch' and turns a leading 1 of the constant Reshape shapes into 0 (copy it from the input),
then checks the result: two frames as one batch must give what each gives alone through the
original (raw outputs), else nothing is written. With such a model the tiles of a frame (and later the
frames of several cameras) go through one inference instead of one each. Quantize the batched
model, not the other way round: quantize keeps the batch dimension as it finds it.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "dynamic-batch",
        help="make an ONNX detector's batch dimension symbolic (several tiles or frames per inference)",
        description="Write a copy of an ONNX detector whose batch dimension is symbolic, checked against the "
        "original.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="IN", help="ONNX detector: a path or a known name")
    parser.add_argument("--out", required=True, type=Path, metavar="OUT", help="where to write the .onnx copy")
    add_logging_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    import cv2
    import numpy as np

    from edge.detection.dynamic_batch import make_batch_dynamic
    from edge.models import resolve_model

    model_path = resolve_model(args.model)
    if args.out.suffix.lower() != ".onnx":
        raise ConfigError(f"--out should end in .onnx, got {args.out}")
    if args.out.resolve() == model_path.resolve():
        raise ConfigError("--out must not be the input model")
    # Two unlike frames for the check: a gradient and its mirror with shapes drawn on both.
    first = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (480, 1))
    first = cv2.merge([first, first[::-1], np.full_like(first, 128)])
    second = first[:, ::-1].copy()
    for image, offset in ((first, 0), (second, 200)):
        cv2.rectangle(image, (100 + offset, 120), (260 + offset, 400), (30, 30, 200), -1)
        cv2.circle(image, (420 - offset // 2, 200), 60, (20, 180, 20), -1)
    changed = make_batch_dynamic(model_path, args.out, [first, second])
    print(f"wrote {args.out}: batch dimension symbolic, {changed} Reshape shape(s) changed, checked against "
          f"{model_path.name}")
    return 0
