"""``edgelabel-agent benchmark``: how fast a model detects on this machine, with these settings."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from edge.commands.detector_args import detector_from_args
from edge.commands.options import add_detector_options, add_logging_options, configure_logging
from edge.contract.errors import ConfigError

EPILOG = """\
examples:
  edgelabel-agent benchmark --model yolox_nano.onnx --threads 2
  edgelabel-agent benchmark --model models/yolox_nano.int8.xml --source site-clip.mp4 --json
  edgelabel-agent benchmark --model yolox_nano.onnx --runtime openvino --precision bf16

What it times: the whole detection of a frame (letterbox, inference, decode and NMS), and the
inference alone, over --frames frames after --warmup untimed ones; it prints medians, the 90th
percentile, and frames per second with as many frames in detection at once as --streams, as
'run' would (with two streams each frame takes longer and more frames are done per second). Frames come from --source (decoded into memory first, so
decoding is not timed; cycled if the source is shorter), else from one mid-grey frame of the
model's input size (decode and NMS then have nothing to do: give real footage for real numbers).
Any model 'detect' accepts works: ONNX on ONNX Runtime, ONNX or OpenVINO IR on OpenVINO.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "benchmark",
        help="time detection with a model on this machine (median ms/frame and fps)",
        description="Time a detector on frames of a source: median milliseconds per frame and frames per second.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", metavar="SRC", default=None,
                        help="frames to detect on: video file, image directory, camera index or URL "
                             "(default: a grey frame)")
    parser.add_argument("--frames", type=int, default=200, metavar="N",
                        help="timed frames (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=10, metavar="N",
                        help="untimed frames first (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text (and log errors only)")
    add_detector_options(parser)
    add_logging_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging(args, quiet=args.json)
    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    if args.warmup < 0:
        raise ConfigError(f"--warmup must be at least 0, got {args.warmup}")
    import numpy as np

    detector = detector_from_args(args)
    frames, description = _frames(args.source, args.frames, detector.input_hw, np)
    for index in range(args.warmup):
        detector.detect(frames[index % len(frames)])
    timed = [frames[index % len(frames)] for index in range(args.warmup, args.warmup + args.frames)]
    started = time.perf_counter()
    if detector.streams == 1:
        measured = [_timed_detect(detector, image) for image in timed]
    else:  # as the agent runs it: that many frames in detection at once
        with ThreadPoolExecutor(detector.streams) as workers:
            measured = list(workers.map(lambda image: _timed_detect(detector, image), timed))
    wall_s = time.perf_counter() - started
    detect_ms = [m[0] for m in measured]
    result = {
        "model": detector.model_id,
        "runtime": detector.runtime.tag,
        "runtime_description": detector.runtime.description,
        "streams": detector.streams,
        "source": description,
        "frames": args.frames,
        "detect_ms_median": round(statistics.median(detect_ms), 3),
        "detect_ms_p90": round(float(np.percentile(detect_ms, 90)), 3),
        "inference_ms_median": None if measured[0][1] is None else round(statistics.median(m[1] for m in measured), 3),
        "tiles": _tiles(detector, frames[0]),
        "fps": round(args.frames / wall_s, 2),
        "boxes_per_frame": round(sum(m[2] for m in measured) / args.frames, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{detector.model_id} on {detector.runtime.description}")
        print(f"{args.frames} frames of {description} after {args.warmup} untimed")
        print(f"detect     median {result['detect_ms_median']:.2f} ms/frame (p90 {result['detect_ms_p90']:.2f}), "
              f"{result['boxes_per_frame']:.1f} boxes/frame")
        if result["inference_ms_median"] is not None:
            print(f"inference  median {result['inference_ms_median']:.2f} ms/frame")
        else:
            print(f"tiles      {result['tiles']} per frame")
        in_flight = f" with {detector.streams} frames in detection at once" if detector.streams > 1 else ""
        print(f"throughput {result['fps']:.1f} fps{in_flight}")
    return 0


def _timed_detect(detector, image) -> tuple[float, float | None, int]:
    """(ms for the whole detection, ms of it in inference or None for a tiled frame, boxes found)."""
    started = time.perf_counter()
    if detector.plan(image.shape[:2]) is not None:  # several inferences per frame: time the whole
        found = detector.detect(image)
        return (time.perf_counter() - started) * 1000.0, None, len(found.xyxy)
    boxed = detector.preprocess(image)
    inferred_at = time.perf_counter()
    outputs = detector.infer(boxed.tensor)
    inferred = time.perf_counter()
    found = detector.postprocess(outputs, boxed, image.shape[:2])
    finished = time.perf_counter()
    return (finished - started) * 1000.0, (inferred - inferred_at) * 1000.0, len(found.xyxy)


def _tiles(detector, image) -> str:
    plan = detector.plan(image.shape[:2])
    return plan.describe if plan else "none"


def _frames(source: str | None, wanted: int, input_hw: tuple[int, int], np) -> tuple[list, str]:
    if source is None:
        return [np.full((*input_hw, 3), 128, np.uint8)], f"a grey {input_hw[1]}x{input_hw[0]} frame"
    from edge.sources import open_source

    frames = []
    with open_source(source) as opened:
        description = opened.description
        for frame in opened:
            frames.append(frame.image)
            if len(frames) >= wanted:
                break
    if not frames:
        raise ConfigError(f"--source {source}: no frame could be read")
    return frames, description
