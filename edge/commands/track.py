"""``edgelabel-agent track``: detector + tracker over a whole source, written as a MOTChallenge file."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge.commands.detector_args import detector_from_args
from edge.commands.options import (
    add_detect_every,
    add_detector_options,
    add_logging_options,
    add_source_options,
    configure_logging,
)
from edge.config import TrackerDefaults
from edge.contract.errors import ConfigError

log = logging.getLogger("edge.track")

EPILOG = """\
examples:
  # people in an MOT sequence, one detection per frame
  edgelabel-agent track --source MOT17-02/img1 --model yolox-nano --mot-out MOT17-02.txt --classes person

  # a clip, detector on every third frame, the tracker predicting in between
  edgelabel-agent track --source clip.mp4 --model yolox_nano.onnx --mot-out clip.txt --detect-every 3

  # score it against ground truth
  edgelabel-agent mot-eval --gt MOT17-02/gt/gt.txt --results MOT17-02.txt

Output lines are 'frame,id,x,y,w,h,score,-1,-1,-1' with frames counted from 1 (the source's
first frame is 1) and boxes in pixels; only confirmed tracks are written.

The tracker is ByteTrack: boxes it is sure of start and continue tracks, and weak boxes, down to
--track-low-score, only keep tracks it already has (an object half hidden scores low). So the
detector runs down to that score when it is below --score-threshold.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "track",
        help="detect and track objects over a source and write a MOTChallenge file",
        description="Run the detector and the tracker over every frame of a source and write the tracks "
        "in MOTChallenge text format.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mot-out", required=True, metavar="FILE", type=Path, help="MOTChallenge results file to write")
    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_source_options(parser)
    add_detector_options(parser)
    tracker = parser.add_argument_group("tracker")
    tracker.add_argument("--classes", action="append", metavar="NAMES",
                         help="track only these classes, by name (comma-separated or repeated, e.g. person,car); "
                              "default: every class")
    add_detect_every(tracker)
    tracker.add_argument("--track-low-score", type=float, default=TrackerDefaults.low_score_threshold, metavar="S",
                         help="weakest detection the tracker uses: below its confident stage, boxes down to this "
                              "score keep existing tracks alive through occlusions, never start one; the detector "
                              "runs down to it (default: %(default)s)")
    tracker.add_argument("--track-buffer", type=int, default=TrackerDefaults.lost_track_buffer_frames,
                         metavar="FRAMES", help="frames a lost track is kept to be found again (default: %(default)s)")
    add_logging_options(parser, progress=True)
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from tqdm import tqdm

    from edge.detection.class_filter import ClassFilter
    from edge.pipeline import Pipeline
    from edge.sources import ImageDirSource, VideoFileSource, open_source
    from edge.tracking import ByteTracker
    from edge.tracking.mot_sink import EveryFrame, MotFileSink

    if args.detect_every < 1:
        raise ConfigError(f"--detect-every must be at least 1, got {args.detect_every}")
    if args.track_buffer < 0:
        raise ConfigError(f"--track-buffer must be at least 0, got {args.track_buffer}")
    out_dir = args.mot_out.parent
    if not out_dir.is_dir():
        raise ConfigError(f"--mot-out: directory {out_dir} does not exist")
    tracker = tracker_from_args(args, ByteTracker)
    detector = detector_from_args(args, pipelined=False, score_threshold=min(args.score_threshold,
                                                                             args.track_low_score))
    wanted = class_ids(args.classes, detector.class_names)
    source = open_source(args.source, image_fps=args.image_fps, decoder=args.decoder)
    total = (len(source.paths) if isinstance(source, ImageDirSource)
             else source.reported_frames if isinstance(source, VideoFileSource) else None)
    progress = tqdm(total=total, unit="frame", desc="tracking", disable=args.no_progress or args.quiet, file=sys.stderr)
    sink = MotFileSink(args.mot_out, on_frame=lambda: progress.update(1))
    pipeline = Pipeline(source, detector if wanted is None else ClassFilter(detector, wanted), EveryFrame(), sink,
                        tracker=tracker, detect_every=args.detect_every)
    try:
        counts = pipeline.run()
        sink.commit()
    finally:
        sink.discard()  # after commit, nothing is left to discard
        progress.close()
        source.close()
    frames = counts.frames_read - counts.frames_dropped
    summary = {
        "frames": frames,
        "frames_detected": counts.frames_detected,
        "tracks": len(sink.track_ids),
        "boxes": sink.boxes,
        "detect_every": args.detect_every,
        "seconds": round(counts.seconds, 3),
        "fps": round(frames / counts.seconds, 2) if counts.seconds else 0.0,
        "mot_out": str(args.mot_out),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{frames} frames, {summary['tracks']} tracks, {sink.boxes} boxes -> {args.mot_out} "
              f"({counts.seconds:.1f} s, {summary['fps']:.1f} fps)")
    return 0


def tracker_from_args(args: argparse.Namespace, tracker_class):
    """The tracker ``--track-low-score`` and ``--track-buffer`` describe; its errors name the flags."""
    try:
        return tracker_class(low_score_threshold=args.track_low_score, lost_track_buffer_frames=args.track_buffer)
    except ConfigError as exc:
        raise ConfigError(f"--track-low-score {args.track_low_score}: {exc}") from None


def class_ids(names: list[str] | None, class_names) -> list[int] | None:
    """Class ids for ``--classes`` values (each comma-separated); None means every class."""
    if not names:
        return None
    wanted = [name.strip() for value in names for name in value.split(",") if name.strip()]
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in wanted if name not in index]
    if unknown:
        shown = ", ".join(class_names[:8]) + (", ..." if len(class_names) > 8 else "")
        raise ConfigError(f"--classes: unknown class {', '.join(map(repr, unknown))}; the model knows {shown}")
    return sorted({index[name] for name in wanted})
