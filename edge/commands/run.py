"""``edgelabel-agent run``: the agent's main job."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

from edge import logs
from edge.errors import ConfigError

log = logging.getLogger("edge.run")

EPILOG = """\
examples:
  # encrypted and authenticated (the default): a credentials file from 'keys add-device'
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml

  # keyframe selection from a config file (see deploy/agent.example.toml), one setting overridden
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml \\
      --config /etc/edgelabel/agent.toml --keyframes-per-minute 6

  # a local experiment without encryption, replaying a clip
  edgelabel-agent run --source clip.mp4 --model yolox_nano.onnx \\
      --collector tcp://127.0.0.1:5555 --insecure --device laptop
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="detect, select keyframes and stream them to a collector",
        description="Read a source, pre-label every frame with the detector, keep the frames worth labeling "
        "and send them to the collector; ends by itself at the end of a file source.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, metavar="SRC",
                        help="video file, image directory (sorted), camera index, or rtsp:// / http(s):// URL")
    parser.add_argument("--model", required=True, help="ONNX detector path, or a known name such as yolox-nano")
    parser.add_argument("--collector", metavar="ENDPOINT",
                        help="collector ingest endpoint, e.g. tcp://collector:5555 (default: the one in --credentials)")
    security = parser.add_mutually_exclusive_group(required=True)
    security.add_argument("--credentials", metavar="FILE", help="device credentials file from 'edgelabel-collector keys add-device'")
    security.add_argument("--insecure", action="store_true",
                          help="send unencrypted and unauthenticated (local experiments only)")
    parser.add_argument("--device", help="device name (default: the credentials' device, or this host's name with --insecure)")

    detection = parser.add_argument_group("detector")
    detection.add_argument("--score-threshold", type=float, default=0.3,
                           help="keep detections at or above this score (default: %(default)s)")
    detection.add_argument("--threads", type=int, default=None, help="inference threads (default: onnxruntime's choice)")
    detection.add_argument("--provider", action="append", default=None,
                           help="execution provider by ONNX Runtime name or short name (cpu, cuda, tensorrt, "
                                "openvino), repeatable, in order of preference (default: CPUExecutionProvider)")
    detection.add_argument("--layout", choices=("yolox", "yolov5", "yolov8", "end2end"), default=None,
                           help="the model's output layout, when recognising it from the graph gets it wrong")
    detection.add_argument("--labels", metavar="FILE", default=None,
                           help="class names, one per line (default: the model's metadata, else COCO)")

    selection = add_selection_arguments(parser)
    selection.add_argument("--image-fps", type=float, default=10.0,
                           help="frame rate assumed for an image directory (default: %(default)s)")
    selection.add_argument("--detect-every", type=int, default=1, metavar="K",
                           help="run the detector on every K-th frame; the tracker predicts the frames between "
                                "(default: %(default)s)")
    selection.add_argument("--pace", type=float, default=None, metavar="SPEED",
                           help="replay a file or image directory at SPEED x its recorded rate, like a live camera "
                                "(1 = real time; default: as fast as the detector goes)")

    uplink = parser.add_argument_group("uplink")
    uplink.add_argument("--jpeg-quality", type=int, default=85, help="JPEG quality 1-100 (default: %(default)s)")
    uplink.add_argument("--window", type=int, default=32, help="most frames in flight without an ack (default: %(default)s)")
    uplink.add_argument("--ack-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="resend a frame that has no ack after this long (default: %(default)s)")
    uplink.add_argument("--flush-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="at the end of a file, wait this long for the last acks (default: %(default)s)")
    uplink.add_argument("--spool-dir", type=Path, default=None, metavar="DIR",
                        help="durable spool of frames waiting for the collector's ack "
                             "(default: $XDG_STATE_HOME/edgelabel/spool/DEVICE, or ~/.local/state/...)")
    uplink.add_argument("--spool-max-mb", type=float, default=1024.0, metavar="MB",
                        help="spool size bound; when full, the lowest-priority, oldest frames are evicted "
                             "(default: %(default)s)")
    uplink.add_argument("--status-interval", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between heartbeats to the collector (default: %(default)s)")
    parser.add_argument("--metrics", metavar="HOST:PORT", default=None,
                        help="serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 127.0.0.1:9465)")

    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser


SELECTION_FLAGS = {
    "min_gap": ("--min-gap", "selection.interval.min_gap_s"),
    "max_gap": ("--max-gap", "selection.interval.max_gap_s"),
    "scene_threshold": ("--scene-threshold", "selection.scene_change.threshold"),
    "keyframes_per_minute": ("--keyframes-per-minute", "selection.budget.keyframes_per_minute"),
    "megabytes_per_hour": ("--megabytes-per-hour", "selection.budget.megabytes_per_hour"),
}
"""Selection flags: argparse destination -> (flag, key of the config file it overrides)."""


def add_selection_arguments(parser: argparse.ArgumentParser):
    """``--config`` and the selection flags, shared by ``run`` and ``sample``; returns the group."""
    selection = parser.add_argument_group(
        "keyframe selection", "defaults come from --config (every key: deploy/agent.example.toml); a flag wins over the file")
    selection.add_argument("--config", type=Path, metavar="FILE",
                           help="agent config file (TOML) with a [selection] table")
    selection.add_argument("--min-gap", type=float, metavar="SECONDS",
                           help="never keep two frames closer than this in source time (default: 1)")
    selection.add_argument("--max-gap", type=float, metavar="SECONDS",
                           help="keep a frame at least this often, even in a static scene (default: 30)")
    selection.add_argument("--scene-threshold", type=float, metavar="FRACTION",
                           help="share of the picture that must change against the recently kept frames "
                                "(default: 0.04)")
    selection.add_argument("--keyframes-per-minute", type=float, metavar="N",
                           help="budget: kept frames per minute on average, 0 for no limit (default: 12)")
    selection.add_argument("--megabytes-per-hour", type=float, metavar="MB",
                           help="budget: JPEG megabytes per hour on average, 0 for no limit (default: 100)")
    return selection


def load_selection(args: argparse.Namespace):
    """The selector from ``--config`` and the selection flags; raises ConfigError naming the bad key."""
    from edge.config import Override, load_config
    from edge.selection import build_selector

    overrides = {key: Override(getattr(args, dest), flag)
                 for dest, (flag, key) in SELECTION_FLAGS.items() if getattr(args, dest) is not None}
    config = load_config(args.config, overrides)
    return build_selector(config.selection, jpeg_quality=args.jpeg_quality, origins=dict(config.origins))


def run(args: argparse.Namespace) -> int:
    logs.configure(-1 if args.quiet else args.verbose)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from edge.credentials import read_credentials
    from edge.detection.classes import read_labels_file
    from edge.detection.runner import OnnxDetector
    from edge.models import resolve_model
    from edge.pacing import PacedSource
    from edge.pipeline import Pipeline
    from edge.sender import FrameSender
    from edge.sources import open_source
    from edge.spool import Spool
    from edge.uplink import Uplink

    credentials = read_credentials(args.credentials) if args.credentials else None
    endpoint = args.collector or (credentials.endpoint if credentials else None)
    if not endpoint:
        raise ConfigError("--collector is required with --insecure (e.g. --collector tcp://127.0.0.1:5555)")
    if credentials is not None:
        if args.device and args.device != credentials.device:
            raise ConfigError(f"--device {args.device!r} differs from the credentials' device {credentials.device!r}")
        device = credentials.device
    else:
        device = args.device or socket.gethostname()
        log.warning("INSECURE: frames go to %s unencrypted and unauthenticated (--insecure)", endpoint)
    if not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be 1..100, got {args.jpeg_quality}")
    if args.detect_every < 1:
        raise ConfigError(f"--detect-every must be at least 1, got {args.detect_every}")
    selector = load_selection(args)  # before the model: a typo in the config fails at once

    detector = OnnxDetector(
        resolve_model(args.model),
        score_threshold=args.score_threshold,
        intra_op_threads=args.threads,
        providers=tuple(args.provider or ("CPUExecutionProvider",)),
        layout=args.layout,
        class_names=read_labels_file(args.labels) if args.labels else None,
    )
    spool = Spool(args.spool_dir or default_spool_dir(device), device,
                  max_bytes=int(args.spool_max_mb * 1024 * 1024), first_seq=first_sequence_number)
    source = open_source(args.source, image_fps=args.image_fps)
    if args.pace is not None:
        source = PacedSource(source, args.pace)
    sender = FrameSender(endpoint, credentials, window=args.window, ack_timeout_s=args.ack_timeout)
    pipeline: Pipeline | None = None

    def status_counters() -> dict[str, float]:
        counts = pipeline.counts
        elapsed = time.monotonic() - started
        processed = counts.frames_read - counts.frames_dropped
        return {"fps": round(processed / elapsed, 2) if elapsed > 0 else 0.0,
                "frames_read": counts.frames_read, "frames_dropped": counts.frames_dropped,
                "selected": counts.frames_selected,
                # A camera gone black or blurred shows up here (e.g. rejected_black) on the collector.
                **{f"rejected_{flaw}": n for flaw, n in dict(selector.counts.rejected).items()}}

    uplink = Uplink(
        sender,
        spool,
        model_id=detector.model_id,
        class_names=tuple(detector.class_names),
        jpeg_quality=args.jpeg_quality,
        flush_timeout_s=args.flush_timeout,
        status_interval_s=args.status_interval,
        status_counters=status_counters,
    )
    pipeline = Pipeline(source, detector, selector, uplink, detect_every=args.detect_every)
    started = time.monotonic()
    log.info("device %r: %s → %s with %s; spool %s", device, source.description, endpoint, detector.model_id,
             spool.directory)

    metrics = None
    if args.metrics:
        from edge.agent_metrics import agent_metrics
        from edge.prometheus import MetricsServer

        try:
            metrics = MetricsServer(args.metrics, lambda: agent_metrics(device, status_counters, sender.counts, spool))
        except ValueError as exc:
            raise ConfigError(f"--metrics: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {args.metrics}: {exc.strerror or exc}") from None
        metrics.start()
    previous = signal.signal(signal.SIGTERM, lambda *_: pipeline.stop())
    try:
        counts = pipeline.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if metrics is not None:
            metrics.stop()
        source.close()
        sender.close()
        spool.close()

    sent = sender.counts
    summary = {
        "device": device,
        "frames_read": counts.frames_read,
        "frames_dropped": counts.frames_dropped,
        "frames_detected": counts.frames_detected,
        "selected": counts.frames_selected,
        "tracks_confirmed": counts.tracks_confirmed,
        "kept_by_reason": dict(selector.counts.kept_by_reason),
        "rejected_by_flaw": dict(selector.counts.rejected),
        "overruled_by": dict(selector.counts.overruled),
        "sent": sent.sent,
        "acknowledged": sent.acknowledged,
        "duplicates": sent.duplicates,
        "rejected": sum(sent.rejected.values()),
        "rejected_by_code": dict(sent.rejected),
        "unacknowledged": uplink.unacknowledged,
        "evicted": uplink.evicted,
        "retransmits": sent.retransmits,
        "jpeg_bytes_spooled": uplink.bytes_spooled,
        "spool_dir": str(spool.directory),
        "seconds": round(counts.seconds, 3),
        # Frames through the whole pipeline per second (with --detect-every k the detector saw 1/k of them).
        "fps": round((counts.frames_read - counts.frames_dropped) / counts.seconds, 2) if counts.seconds else 0.0,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"frames read {summary['frames_read']}, selected {summary['selected']}, sent {summary['sent']}, "
            f"acknowledged {summary['acknowledged']}, rejected {summary['rejected']}, "
            f"still spooled {summary['unacknowledged']}, dropped {summary['frames_dropped']} "
            f"({summary['seconds']:.1f} s, {summary['fps']:.1f} fps)"
        )
    if summary["unacknowledged"] or summary["rejected"] or summary["evicted"]:
        print(
            "edgelabel-agent run: warning: not every selected frame reached the collector "
            f"({summary['unacknowledged']} still spooled, {summary['rejected']} rejected, {summary['evicted']} evicted)",
            file=sys.stderr,
        )
        return 1
    return 0


def default_spool_dir(device: str) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    # Device names may hold any printable character; a directory name may not.
    return Path(state) / "edgelabel" / "spool" / re.sub(r"[^A-Za-z0-9._-]", "_", device)


def first_sequence_number() -> int:
    """The first sequence number of a new spool: microseconds since the epoch.

    The spool continues its numbering across restarts. A new spool (first run, or the old one was
    lost with its disk) starts from the clock, above every number an earlier spool of this device
    used (unless that one sent more than one frame per microsecond of its life, or the clock went
    back), so the collector never mistakes a new frame for one it already has.
    """
    return time.time_ns() // 1000
