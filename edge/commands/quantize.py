"""``edgelabel-agent quantize``: a static int8 model, checked against the float one before it is kept."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from edge import logs
from edge.errors import ConfigError

log = logging.getLogger("edge.quantize")

EPILOG = """\
examples:
  edgelabel-agent quantize --model yolox_nano.onnx --calibration site-clip.mp4 --out yolox_nano.int8.onnx
  edgelabel-agent quantize --model yolov8n.onnx --calibration frames/ --out yolov8n.int8.onnx \\
      --exclude-head --method percentile

What it does: upgrades the graph to opset 13 if older, runs ONNX Runtime's pre-processing pass,
quantizes statically to int8 (QDQ, per-channel weights) with activation ranges taken from frames
sampled over SRC, then runs both models on other frames of SRC. Agreement is the mAP@0.5 of the
int8 model's boxes scored against the float model's boxes (at --score-threshold), averaged over
the classes the float model finds at least 5 times (rarer ones are listed, not averaged). It prints a
table, writes a report beside OUT (OUT with .report.json) and writes OUT only if agreement is
at least --min-agreement and int8 is at least --min-speedup times as fast as float on this
machine, unless --force. Calibrate on the camera's own footage.

Speed depends on the hardware: on x86 CPUs int8 is often no faster than float for small,
depthwise-heavy detectors (ONNX Runtime fuses their SiLU activations in float, not in int8).
When quantizing for another device, pass --min-speedup 0 and time it there.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "quantize",
        help="quantize a detector to int8 and check it against the float model",
        description="Quantize an ONNX detector to int8, calibrated on a source's frames, and keep it only if its "
        "boxes agree with the float model's on held-out frames.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="IN", help="float ONNX detector: a path or a known name")
    parser.add_argument(
        "--calibration",
        required=True,
        metavar="SRC",
        help="footage to calibrate and check on: video file, image directory, camera index or URL",
    )
    parser.add_argument("--out", required=True, metavar="OUT", type=Path, help="where to write the int8 .onnx")

    quant = parser.add_argument_group("quantization")
    quant.add_argument(
        "--format",
        choices=("qdq", "qoperator"),
        default="qdq",
        help="qdq (portable, default) or qoperator (QLinear ops, CPU only)",
    )
    quant.add_argument(
        "--method",
        choices=("minmax", "percentile"),
        default="minmax",
        help="calibration method (default: %(default)s); percentile clips outliers, is more accurate "
        "and about 10x slower, and holds every calibration frame's activations in memory",
    )
    quant.add_argument(
        "--per-tensor",
        action="store_true",
        help="one scale per weight tensor instead of per channel (ruins depthwise-heavy models)",
    )
    quant.add_argument(
        "--exclude-head",
        action="store_true",
        help="keep the detection head's output stage (last convolutions onward) in float",
    )
    quant.add_argument(
        "--exclude-node", action="append", default=[], metavar="NAME", help="keep this node in float; repeatable"
    )
    quant.add_argument(
        "--activations",
        choices=("uint8", "uint16"),
        default="uint8",
        help="activation precision (default: %(default)s); uint16 (A16W8) keeps accuracy but has no "
        "fast CPU kernels: for NPUs that run it",
    )
    quant.add_argument(
        "--calibration-frames",
        type=int,
        default=100,
        metavar="N",
        help="frames sampled for calibration (default: %(default)s)",
    )
    quant.add_argument(
        "--eval-frames",
        type=int,
        default=50,
        metavar="N",
        help="other frames the two models are compared on (default: %(default)s)",
    )
    quant.add_argument(
        "--max-frames-read",
        type=int,
        default=20000,
        metavar="N",
        help="read at most this many frames of SRC (bounds a live source or a long clip; default: %(default)s)",
    )

    check = parser.add_argument_group("check")
    check.add_argument(
        "--min-agreement",
        type=float,
        default=0.95,
        metavar="MAP",
        help="lowest agreement mAP@0.5 to accept (default: %(default)s)",
    )
    check.add_argument(
        "--min-speedup",
        type=float,
        default=1.0,
        metavar="X",
        help="lowest float/int8 latency ratio on this machine to accept (default: %(default)s, "
        "int8 no slower); 0 turns it off, e.g. when quantizing for another device",
    )
    check.add_argument("--force", action="store_true", help="write OUT even when a check fails")
    check.add_argument(
        "--score-threshold",
        type=float,
        default=0.3,
        metavar="S",
        help="the float model's boxes at or above this score are the reference (default: %(default)s)",
    )
    check.add_argument(
        "--threads",
        type=int,
        default=2,
        metavar="N",
        help="inference threads when timing both models (default: %(default)s)",
    )
    check.add_argument(
        "--timing-runs",
        type=int,
        default=30,
        metavar="N",
        help="timed inferences per model; medians are reported (default: %(default)s)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--layout",
        choices=("yolox", "yolov5", "yolov8", "end2end"),
        default=None,
        help="output layout, when recognising it from the graph guesses wrong",
    )
    model.add_argument("--labels", type=Path, metavar="FILE", help="class names, one per line")

    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return parser


def run(args: argparse.Namespace) -> int:
    logs.configure(args.verbose)
    _check_args(args)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from edge.detection.classes import read_labels_file
    from edge.detection.letterbox import letterbox_as
    from edge.detection.runner import OnnxDetector
    from edge.models import resolve_model
    from edge.quantization import QuantizationRejected
    from edge.quantization.calibrate import QuantizeOptions, quantize_int8
    from edge.quantization.compare import PREDICTION_SCORE_THRESHOLD, agreement, latency
    from edge.quantization.frames import sample_frames
    from edge.quantization.report import build_report, judge, report_path, table, write_report

    options = QuantizeOptions(
        quant_format=args.format,
        per_channel=not args.per_tensor,
        calibration_method=args.method,
        exclude_head=args.exclude_head,
        exclude_nodes=tuple(args.exclude_node),
        activations=args.activations,
    )
    model_path = resolve_model(args.model, progress=not args.no_progress)
    class_names = read_labels_file(args.labels) if args.labels else None
    out_path: Path = args.out
    if out_path.resolve() == model_path.resolve():
        raise ConfigError("--out must not be the input model")
    float_detector = OnnxDetector(
        model_path, score_threshold=args.score_threshold, intra_op_threads=args.threads,
        class_names=class_names, layout=args.layout,
    )  # fmt: skip
    frames = sample_frames(
        args.calibration, args.calibration_frames, args.eval_frames, args.max_frames_read,
        fit_hw=float_detector.input_hw, progress=not args.no_progress,
    )  # fmt: skip
    log.info(
        "%s: %d frames read, %d for calibration, %d held out",
        frames.description, frames.frames_read, len(frames.calibration), len(frames.held_out),
    )  # fmt: skip

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        quantized = quantize_int8(
            model_path, tmp_path, frames.calibration, float_detector.input_hw, float_detector.input_format,
            options, progress=not args.no_progress,
        )  # fmt: skip
        int8_detector = OnnxDetector(
            tmp_path, score_threshold=PREDICTION_SCORE_THRESHOLD, intra_op_threads=args.threads,
            class_names=float_detector.class_names, layout=float_detector.layout,
        )  # fmt: skip
        agreed = agreement(float_detector, int8_detector, frames.held_out)
        tensors = [
            letterbox_as(image, float_detector.input_hw, float_detector.input_format).tensor
            for image in frames.held_out
        ]
        timed = latency(model_path, tmp_path, tensors, args.threads, args.timing_runs)
        verdict = judge(agreed, timed, args.min_agreement, args.min_speedup, args.score_threshold)
        write_out = verdict.accepted or args.force
        report = build_report(
            model_path=model_path, out_path=out_path, source=args.calibration, frames_read=frames.frames_read,
            calibration_frames=len(frames.calibration), options=options, quantized=quantized, agreement=agreed,
            latency=timed, score_threshold=args.score_threshold, min_agreement=args.min_agreement,
            min_speedup=args.min_speedup, verdict=verdict, written=write_out, layout=float_detector.layout,
        )  # fmt: skip
        print(table(report))
        json_path = report_path(out_path)
        write_report(json_path, report)
        if write_out:
            os.replace(tmp_path, out_path)
    finally:
        tmp_path.unlink(missing_ok=True)

    if not verdict.accepted and not args.force:
        raise QuantizationRejected(
            f"{verdict.reason}; {out_path} not written (report: {json_path}; --force writes it anyway)"
        )
    note = "" if verdict.accepted else f" despite: {verdict.reason} (--force)"
    print(f"wrote {out_path} and {json_path}{note}")
    return 0


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.min_agreement <= 1.0:
        raise ConfigError(f"--min-agreement must be in [0, 1], got {args.min_agreement}")
    if args.min_speedup < 0:
        raise ConfigError(f"--min-speedup must be at least 0, got {args.min_speedup}")
    for flag, value in (
        ("--calibration-frames", args.calibration_frames),
        ("--eval-frames", args.eval_frames),
        ("--max-frames-read", args.max_frames_read),
        ("--threads", args.threads),
        ("--timing-runs", args.timing_runs),
    ):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.max_frames_read < 2:
        raise ConfigError(f"--max-frames-read must be at least 2, got {args.max_frames_read}")
    if args.out.suffix != ".onnx":
        raise ConfigError(f"--out should end in .onnx, got {args.out}")
