"""``edgelabel-agent track``: detector + tracker over a whole source, written as a MOTChallenge file."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from edge import logs
from edge.commands.detector_args import add_runtime_arguments, add_tiling_arguments, detector_from_args
from edge.contract.errors import ConfigError
from edge.contract.files import atomic_file

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
    parser.add_argument("--source", required=True, metavar="SRC",
                        help="video file, image directory (sorted), camera index, or rtsp:// / http(s):// URL")
    parser.add_argument("--model", required=True, help="detector: an ONNX file, an OpenVINO IR .xml, or a known name such as yolox-nano")
    parser.add_argument("--mot-out", required=True, metavar="FILE", type=Path, help="MOTChallenge results file to write")
    parser.add_argument("--classes", action="append", metavar="NAMES",
                        help="track only these classes, by name (comma-separated or repeated, e.g. person,car); "
                             "default: every class")
    parser.add_argument("--detect-every", type=int, default=1, metavar="K",
                        help="run the detector on every K-th frame, predict the frames in between (default: %(default)s)")
    parser.add_argument("--score-threshold", type=float, default=0.1,
                        help="detector score threshold; low, because the tracker uses weak boxes to keep "
                             "tracks through occlusions (default: %(default)s)")
    parser.add_argument("--track-buffer", type=int, default=30, metavar="FRAMES",
                        help="frames a lost track is kept to be found again (default: %(default)s)")
    parser.add_argument("--image-fps", type=float, default=10.0,
                        help="frame rate assumed for an image directory (default: %(default)s)")
    add_runtime_arguments(parser)
    add_tiling_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser


def run(args: argparse.Namespace) -> int:
    logs.configure(-1 if args.quiet else args.verbose)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    import numpy as np
    from tqdm import tqdm

    from edge.contract.boxes import xyxy_to_xywh
    from edge.contract.motfile import write_mot_frame
    from edge.sources import ImageDirSource, VideoFileSource, open_source
    from edge.tracking import ByteTracker, StridedTracker

    if args.detect_every < 1:
        raise ConfigError(f"--detect-every must be at least 1, got {args.detect_every}")
    if args.track_buffer < 0:
        raise ConfigError(f"--track-buffer must be at least 0, got {args.track_buffer}")
    out_dir = args.mot_out.parent
    if not out_dir.is_dir():
        raise ConfigError(f"--mot-out: directory {out_dir} does not exist")
    detector = detector_from_args(args, pipelined=False, score_threshold=args.score_threshold)
    wanted = class_ids(args.classes, detector.class_names)
    tracking = StridedTracker(ByteTracker(lost_track_buffer_frames=args.track_buffer), args.detect_every)
    source = open_source(args.source, image_fps=args.image_fps)
    total = (len(source.paths) if isinstance(source, ImageDirSource)
             else source.reported_frames if isinstance(source, VideoFileSource) else None)

    frames = detected = boxes = 0
    track_ids: set[int] = set()
    started = time.monotonic()
    # Written next to the target and renamed at the end, so an interrupted run leaves no half file.
    try:
        with atomic_file(args.mot_out, encoding="utf-8") as out, tqdm(
            total=total, unit="frame", desc="tracking", disable=args.no_progress or args.quiet, file=sys.stderr
        ) as progress:
            for frame in source:
                detections = None
                if tracking.needs_detection(frame):
                    detections = detector.detect(frame.image)
                    detected += 1
                    if wanted is not None:
                        detections = detections[np.isin(detections.class_id, wanted)]
                tracked = tracking.step(frame, detections).tracked
                boxes += write_mot_frame(out, frame.index + 1, tracked.tracker_id, xyxy_to_xywh(tracked.xyxy),
                                         tracked.confidence)
                track_ids.update(int(i) for i in tracked.tracker_id)
                frames += 1
                progress.update(1)
    except OSError as exc:
        raise ConfigError(f"cannot write {args.mot_out}: {exc.strerror or exc}") from None
    finally:
        source.close()
    seconds = time.monotonic() - started
    summary = {
        "frames": frames,
        "frames_detected": detected,
        "tracks": len(track_ids),
        "boxes": boxes,
        "detect_every": args.detect_every,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 2) if seconds else 0.0,
        "mot_out": str(args.mot_out),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{frames} frames, {len(track_ids)} tracks, {boxes} boxes -> {args.mot_out} "
              f"({seconds:.1f} s, {summary['fps']:.1f} fps)")
    return 0


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
