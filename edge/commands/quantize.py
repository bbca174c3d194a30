"""``edgelabel-agent quantize``: a quantized model that meets an accuracy budget, or a report saying why not."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.commands.options import (
    THREADS_HELP,
    add_logging_options,
    add_model_output_options,
    config_default,
    configure_logging,
)
from edge.contract.errors import ConfigError

log = logging.getLogger("edge.quantize")

EPILOG = """\
examples:
  # int8 for OpenVINO on an x86 box, calibrated on the camera's own footage
  edgelabel-agent quantize --model yolox_nano.onnx --calibration site-clip.mp4 --out models/yolox_nano.int8.xml
  edgelabel-agent run --model models/yolox_nano.int8.xml --source rtsp://10.0.0.5/stream1 --credentials cam-01.toml

  # the budget in mAP points on the site's verified frames (an 'edgelabel-collector export coco|yolo')
  edgelabel-agent quantize --model yolox_nano.onnx --calibration /var/lib/edgelabel/spool/cam-01 \\
      --calibration clips/ --eval datasets/cams-coco --max-loss 1.0 --out models/yolox_nano.int8.xml

  # QDQ ONNX for ONNX Runtime on ARM or its TensorRT provider on a Jetson; float16 for GPU providers
  edgelabel-agent quantize --model yolox_nano.onnx --calibration site-clip.mp4 --target onnxruntime \\
      --out models/yolox_nano.qdq.onnx
  edgelabel-agent quantize --model yolox_nano.onnx --calibration site-clip.mp4 --target fp16 \\
      --out models/yolox_nano.fp16.onnx

What it does: samples --calibration-frames frames spread over the sources (a clip, an image
directory, a camera or stream, or an agent's spool directory; repeat --calibration for several)
and holds --eval-frames others out. The int8 targets quantize with NNCF, then measure each
quantized layer's harm on held-out images and put the worst back in float until the model is
within --max-loss points of float32 (NNCF's accuracy control); the detection head's prediction
layers stay in float from the start unless --head int8. The budget is in points of
mAP@[.5:.95] on the --eval set when one is given (a COCO instances JSON, a COCO or YOLO dataset
directory, or a YOLO data.yaml), else of agreement AP50 with float32 on the held-out frames
(agreement: the quantized model's boxes scored against float32's as the truth; 1 point of it is
a strict budget). The written model is loaded again on its runtime and checked there; its speed
is timed beside float32 on ONNX Runtime (today's default) and float32 on the same runtime, in
alternating blocks. A table is printed, a JSON report is written beside --out, and --out is
written only if the budget is met, unless --force.

Speed depends on the hardware: a model may be accurate and still no faster than float32 here
(small, depthwise-heavy detectors on x86 CPUs often are). The report says so; it is a warning,
since the model may be meant for another device. NNCF's usage telemetry is switched off.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "quantize",
        help="quantize a detector (int8 or fp16) within an accuracy budget, checked on your footage",
        description="Quantize an ONNX detector for a runtime, calibrated on the camera's own footage, and keep it "
        "only if it stays within an accuracy budget of float32.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="IN", help="float ONNX detector: a path or a known name")
    parser.add_argument(
        "--calibration", required=True, action="append", metavar="SRC",
        help="footage to calibrate and check on: video file, image directory, camera index, URL, or an agent's "
             "spool directory; repeatable (the sources share the frames evenly)",
    )  # fmt: skip
    parser.add_argument(
        "--out", required=True, metavar="OUT", type=Path,
        help="where to write the model: .xml (OpenVINO IR, with its .bin) for --target openvino, else .onnx",
    )  # fmt: skip
    parser.add_argument(
        "--target", choices=("openvino", "onnxruntime", "fp16"), default="openvino",
        help="openvino: int8 IR for OpenVINO (x86 CPUs, Intel GPUs and NPUs); onnxruntime: int8 QDQ ONNX for ONNX "
             "Runtime on ARM and TensorRT; fp16: float16 ONNX for GPU providers (default: %(default)s)",
    )  # fmt: skip

    budget = parser.add_argument_group("accuracy budget")
    budget.add_argument(
        "--max-loss", type=float, default=1.0, metavar="POINTS",
        help="most points (0-100) of the accuracy metric the model may lose against float32 (default: %(default)s)",
    )  # fmt: skip
    budget.add_argument(
        "--eval", metavar="LABELED", default=None,
        help="labeled set the budget is measured on, in mAP@[.5:.95]: a COCO instances .json, a COCO or YOLO dataset "
             "directory, or a YOLO data.yaml (default: agreement with float32 on held-out frames)",
    )  # fmt: skip
    budget.add_argument("--eval-images", type=int, default=None, metavar="N",
                        help="use only the first N images of --eval (faster, noisier)")
    budget.add_argument("--force", action="store_true", help="write OUT even when it misses the budget")
    budget.add_argument(
        "--score-threshold", type=float, default=config_default("detector.score_threshold"), metavar="S",
        help="float32's boxes at or above this score, the detector's own threshold, are the agreement reference "
             "(default: %(default)s)",
    )  # fmt: skip

    frames = parser.add_argument_group("frames")
    frames.add_argument("--calibration-frames", type=int, default=300, metavar="N",
                        help="frames sampled for calibration (default: %(default)s)")
    frames.add_argument("--eval-frames", type=int, default=100, metavar="N",
                        help="other frames held out to measure agreement on (default: %(default)s)")
    frames.add_argument(
        "--max-frames-read", type=int, default=20000, metavar="N",
        help="read at most this many frames of each source (bounds a live source or a long clip; default: %(default)s)",
    )  # fmt: skip

    int8 = parser.add_argument_group("int8 (targets openvino and onnxruntime)")
    int8.add_argument(
        "--preset", choices=("performance", "mixed"), default="performance",
        help="performance: symmetric int8 (fastest on CPUs, what TensorRT wants); mixed: asymmetric activations "
             "(default: %(default)s)",
    )  # fmt: skip
    int8.add_argument(
        "--max-float-layers", type=int, default=None, metavar="N",
        help="most layers accuracy control may put back in float (default: as many as the budget needs; "
             "0: every layer int8, no accuracy control)",
    )  # fmt: skip
    int8.add_argument(
        "--keep-float", action="append", default=[], metavar="LAYER",
        help="keep this layer in float from the start (names as the report lists them); repeatable",
    )  # fmt: skip
    int8.add_argument(
        "--head", choices=("float", "int8"), default="float",
        help="the detection head's prediction layers: kept in float (they carry the outputs' full range and are a "
             "small share of the work) or quantized too (default: %(default)s)",
    )  # fmt: skip
    int8.add_argument(
        "--ranking-frames", type=int, default=50, metavar="N",
        help="held-out images each layer's harm is measured on when ranking layers (default: %(default)s); fewer "
             "rank faster and noisier",
    )  # fmt: skip

    timing = parser.add_argument_group("timing")
    timing.add_argument("--threads", type=int, default=2, metavar="N",
                        help=f"{THREADS_HELP}, the same for every model timed so that they compare "
                             "(default: %(default)s)")
    timing.add_argument("--timing-runs", type=int, default=50, metavar="N",
                        help="timed inferences per model; medians are reported (default: %(default)s)")

    # The class names are written into the quantized model.
    add_model_output_options(parser.add_argument_group("model"))
    add_logging_options(parser, progress=True)
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    _check_args(args)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from edge.detection.class_names import read_labels_file
    from edge.models import resolve_model
    from edge.quantization import QuantizationRejected
    from edge.quantization.mixed_precision import Int8Settings
    from edge.quantization.report import report_path, table, write_report
    from edge.quantization.targets import target_named
    from edge.quantization.workflow import Request, quantize

    request = Request(
        model_path=resolve_model(args.model, progress=not args.no_progress),
        sources=tuple(args.calibration),
        out_path=args.out,
        target=target_named(args.target),
        max_loss=args.max_loss,
        calibration_frames=args.calibration_frames,
        eval_frames=args.eval_frames,
        max_frames_read=args.max_frames_read,
        eval_set=args.eval,
        eval_images=args.eval_images,
        threads=args.threads,
        timing_runs=args.timing_runs,
        score_threshold=args.score_threshold,
        int8=Int8Settings(preset=args.preset, max_float_layers=args.max_float_layers,
                          keep_float=tuple(args.keep_float), head_in_float=args.head == "float",
                          ranking_frames=args.ranking_frames),
        class_names=read_labels_file(args.labels) if args.labels else None,
        layout=args.layout or None,
        force=args.force,
        progress=not args.no_progress,
        verbose=args.verbose > 0,
    )
    outcome = quantize(request)
    json_path = report_path(args.out)
    write_report(json_path, outcome.report)
    reference = outcome.rows[0].timing.median_ms if outcome.rows[0].timing else None
    print(table(outcome.rows, reference, labeled=args.eval is not None))
    layers = outcome.report["layers"]
    if outcome.report["kind"] == "int8":
        kept = ", ".join(layers["float"]) or "none"
        print(f"int8, {len(layers['float'])} of {layers['weighted']} weighted layers kept in float: {kept}")
    print(outcome.verdict.reason)
    for warning in outcome.verdict.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not outcome.verdict.accepted and not args.force:
        raise QuantizationRejected(f"{args.out} not written: the model misses the accuracy budget "
                                   f"(report: {json_path}; --force writes it anyway)")
    note = "" if outcome.verdict.accepted else " despite missing the budget (--force)"
    print(f"wrote {args.out} (model id {outcome.report['model_id']}) and {json_path}{note}")
    return 0


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.max_loss <= 100.0:
        raise ConfigError(f"--max-loss must be in [0, 100] points, got {args.max_loss}")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError(f"--score-threshold must be in [0, 1], got {args.score_threshold}")
    for flag, value in (
        ("--calibration-frames", args.calibration_frames),
        ("--eval-frames", args.eval_frames),
        ("--threads", args.threads),
        ("--timing-runs", args.timing_runs),
        ("--ranking-frames", args.ranking_frames),
        ("--eval-images", args.eval_images if args.eval_images is not None else 1),
    ):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.max_frames_read < 2:
        raise ConfigError(f"--max-frames-read must be at least 2, got {args.max_frames_read}")
    if args.max_float_layers is not None and args.max_float_layers < 0:
        raise ConfigError(f"--max-float-layers must be at least 0, got {args.max_float_layers}")
    keep = [name for value in args.keep_float for name in value.split(",") if name.strip()]
    args.keep_float = keep
