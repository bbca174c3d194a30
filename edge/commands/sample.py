"""``edgelabel-agent sample``: run the full edge pipeline on a source without sending, and write a report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from edge.commands.detector_args import detector_from_args
from edge.commands.options import (
    REDACTION_FLAGS,
    add_detect_every,
    add_detector_options,
    add_jpeg_quality,
    add_logging_options,
    add_redaction_options,
    add_selection_options,
    add_source_options,
    configure_logging,
    load_selection,
)
from edge.contract.errors import ConfigError

log = logging.getLogger("edge.sample")

EPILOG = """\
examples:
  # what would this camera send? (a report to open in a browser: report/index.html)
  edgelabel-agent sample --source clip.mp4 --model yolox_nano.onnx --report report

  # try a config file, and a tighter budget on top of it, keeping the JPEGs that would be sent
  edgelabel-agent sample --source rtsp://10.0.0.5/stream1 --model yolox-nano --report report \\
      --config agent.toml --keyframes-per-minute 4 --frames --max-seconds 600

  # the same with faces blurred, as 'run --redact faces' would send them
  edgelabel-agent sample --source clip.mp4 --model yolox_nano.onnx --report report --frames --redact faces

The report holds index.html, timeline.png (signals and decisions over time), sheet-NNN.jpg
(kept frames with their reasons), kept.jsonl (one line per kept frame) and summary.json.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sample",
        help="run detection, tracking and keyframe selection on a source and write a report, sending nothing",
        description="Run the agent's pipeline (detector, tracker, keyframe selector) over a source exactly as "
        "'run' would, but instead of sending the kept frames, write a report a person can look at.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--report", required=True, type=Path, metavar="DIR", help="directory to write the report to")
    parser.add_argument("--frames", action="store_true", help="also write each kept frame as the JPEG 'run' would send")
    parser.add_argument("--max-seconds", type=float, default=None, metavar="SECONDS",
                        help="stop after this much source time (a live source runs until Ctrl-C otherwise)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_source_options(parser)
    detector = add_detector_options(parser)
    add_detect_every(detector)
    add_jpeg_quality(add_selection_options(parser))
    add_redaction_options(parser)
    add_logging_options(parser, progress=True)
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from tqdm import tqdm

    from edge.pipeline import Pipeline
    from edge.selection import BlurGate, SceneChangePolicy
    from edge.selection.report.recording import RecordingSelector
    from edge.selection.report.sink import SUMMARY_FILE, TIMELINE_FILE, ReportSink
    from edge.selection.report.summary import summarize, write_index
    from edge.selection.report.timeline import plot_timeline, require_matplotlib
    from edge.sources import ImageDirSource, VideoFileSource, open_source

    require_matplotlib()  # before a long run, not after it
    if not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be 1..100, got {args.jpeg_quality}")
    if args.detect_every < 1:
        raise ConfigError(f"--detect-every must be at least 1, got {args.detect_every}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise ConfigError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.report.exists() and not args.report.is_dir():
        raise ConfigError(f"--report: {args.report} exists and is not a directory")
    selector = load_selection(args, args.jpeg_quality)
    detector = detector_from_args(args)
    redacted = _redaction_stage(args, detector.class_names)
    source = open_source(args.source, image_fps=args.image_fps, decoder=args.decoder)
    total = (len(source.paths) if isinstance(source, ImageDirSource)
             else source.reported_frames if isinstance(source, VideoFileSource) else None)
    sink = ReportSink(args.report, detector.class_names, args.jpeg_quality, save_frames=args.frames)
    progress = tqdm(total=total, unit="frame", desc="sampling", disable=args.no_progress or args.quiet, file=sys.stderr)
    recorder = RecordingSelector(selector, on_frame=lambda: progress.update(1))
    pipeline = Pipeline(source, detector, recorder, redacted(sink), detect_every=args.detect_every,
                        detections_in_flight=detector.streams)
    if args.max_seconds is not None:
        recorder.on_frame = lambda: (progress.update(1), _stop_after(recorder, pipeline, args.max_seconds))
    started = time.monotonic()
    try:
        counts = pipeline.run()
    finally:
        progress.close()
        source.close()
    if not recorder.rows:
        raise ConfigError(f"--source {args.source}: no frame could be read")

    sheets = sink.write_sheets()
    thresholds = {}
    for policy in selector.policies:
        if isinstance(policy, SceneChangePolicy):
            thresholds["scene_change"] = policy.threshold
        if isinstance(policy, BlurGate):
            thresholds["relative_sharpness"] = policy.min_relative_sharpness
    title = f"{source.description}: {sink.kept} of {len(recorder.rows)} frames kept"
    plot_timeline(recorder.rows, thresholds, args.report / TIMELINE_FILE, title)
    summary = summarize(recorder.rows, selector.counts, sink, source.description, time.monotonic() - started)
    summary["frames_detected"] = counts.frames_detected
    (args.report / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_index(args.report, summary, sheets, has_timeline=True, frames_saved=args.frames)
    if args.json:
        print(json.dumps(summary))
    else:
        rejected = ", ".join(f"{flaw} {n}" for flaw, n in summary["rejected_by_flaw"].items()) or "none"
        print(f"{summary['frames']} frames, {summary['kept']} kept ({summary['kept_per_minute']}/min, "
              f"{summary['jpeg_megabytes_per_hour']} MB/h), rejected: {rejected}"
              + (f", missed tracks: {summary['missed_tracks']}" if "missed_tracks" in summary else "")
              + f" -> {args.report / 'index.html'}")
    return 0


def _redaction_stage(args: argparse.Namespace, class_names):
    """``--redact`` and ``[redaction]`` of ``--config``: the report then shows what ``run`` would send."""
    from edge.commands.options import flag_overrides
    from edge.config import load_config
    from edge.redaction.redactor import redaction_stage

    config = load_config(args.config, flag_overrides(args, REDACTION_FLAGS))
    return redaction_stage(config.redaction, class_names, config.origin_of("redaction.targets"))


def _stop_after(recorder, pipeline, max_seconds: float) -> None:
    rows = recorder.rows
    if rows[-1]["source_ts"] - rows[0]["source_ts"] >= max_seconds:
        pipeline.stop()
