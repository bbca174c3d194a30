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
import threading
import time
from collections import Counter
from pathlib import Path

from edge.commands.options import (
    DETECTOR_FLAGS,
    REDACTION_FLAGS,
    SELECTION_FLAGS,
    SOURCE_FLAGS,
    UPLINK_FLAGS,
    ConfigFlags,
    add_detect_every,
    add_detector_options,
    add_jpeg_quality,
    add_logging_options,
    add_redaction_options,
    add_selection_options,
    add_source_options,
    configure_logging,
    flag_overrides,
)
from edge.contract.errors import ConfigError

log = logging.getLogger("edge.run")

EPILOG = """\
examples:
  # encrypted and authenticated (the default): a credentials file from 'keys add-device'
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml

  # keyframe selection from a config file (see deploy/agent.example.toml), one setting overridden
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml \\
      --config /etc/edgelabel/agent.toml --keyframes-per-minute 6

  # everything from a config file (flags still win over it); check the file first
  edgelabel-agent check-config /etc/edgelabel/agent.toml
  edgelabel-agent run --config /etc/edgelabel/agent.toml

  # two collector nodes: the agent moves to the next when one stops acknowledging
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml \\
      --collector tcp://node-a:5555 --collector tcp://node-b:5555
  # faces blurred on the device before a frame is stored or sent (and the top of every person box)
  edgelabel-agent run --source rtsp://10.0.0.5/stream1 --model yolox-nano --credentials cam-01.toml \\
      --redact faces,heads

  # a local experiment without encryption, replaying a clip
  edgelabel-agent run --source clip.mp4 --model yolox_nano.onnx \\
      --collector tcp://127.0.0.1:5555 --insecure --device laptop

  # one agent for a site's cameras (devices site-1/gate and site-1/yard at the collector)
  edgelabel-agent run --credentials site-1.toml --model yolox-nano \\
      --source gate=rtsp://10.0.0.5/stream1 --source yard=rtsp://10.0.0.6/stream1
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
    # Every setting below may also come from --config (deploy/agent.example.toml); a flag wins over the file.
    # Flags default to None so that "not given" can be told apart; the defaults live in edge.config.
    ConfigFlags(parser, RUN_FLAGS, config_defaults=True).add(
        "collector", "collector ingest endpoint, e.g. tcp://collector:5555; repeat it for several collector nodes: "
        "the agent uses the first and moves to the next when one stops acknowledging", metavar="ENDPOINT",
        action="append", shown="the ones in --credentials")
    security = parser.add_mutually_exclusive_group()
    security.add_argument("--credentials", metavar="FILE",
                          help="device credentials file from 'edgelabel-collector keys add-device' "
                               "(this or --insecure is required, here or in --config)")
    security.add_argument("--insecure", action="store_true", default=None,
                          help="send unencrypted and unauthenticated (local experiments only)")
    ConfigFlags(parser, RUN_FLAGS, config_defaults=True).add(
        "device", "device name", shown="the credentials' device, or this host's name with --insecure")

    source = add_source_options(parser, config_defaults=True)
    source.add_argument("--pace", type=float, default=None, metavar="SPEED",
                        help="replay a file or image directory at SPEED x its recorded rate, like a live camera "
                             "(1 = real time; default: as fast as the detector goes)")
    add_detect_every(add_detector_options(parser, config_defaults=True), config_defaults=True)
    add_selection_options(parser)
    add_redaction_options(parser)

    uplink = parser.add_argument_group("uplink")
    add_jpeg_quality(uplink, config_defaults=True)
    flags = ConfigFlags(uplink, RUN_FLAGS, config_defaults=True)
    flags.add("window", "most frames in flight without an ack", type=int)
    flags.add("ack_timeout", "resend a frame that has no ack after this long", type=float, metavar="SECONDS")
    flags.add("failover_after", "with several collectors: move to the next when frames in flight got no ack for "
              "this long", type=float, metavar="SECONDS", shown="3 x --ack-timeout")
    flags.add("flush_timeout", "at the end of a file, wait this long for the last acks", type=float,
              metavar="SECONDS")
    flags.add("spool_dir", "durable spool of frames waiting for the collector's ack", type=Path, metavar="DIR",
              shown="$XDG_STATE_HOME/edgelabel/spool/DEVICE, or ~/.local/state/...")
    flags.add("model_store", "where model rollouts keep their files and which one was accepted; a restart "
              "runs the accepted model instead of --model (which stays the fallback)", type=Path, metavar="DIR",
              shown="SPOOL_DIR/models")
    flags.add("spool_max_mb", "spool size bound; when full, the lowest-priority, oldest frames are evicted",
              type=float, metavar="MB")
    flags.add("status_interval", "seconds between heartbeats to the collector", type=float, metavar="SECONDS")
    ConfigFlags(parser, RUN_FLAGS, config_defaults=True).add(
        "metrics", "serve Prometheus metrics on http://HOST:PORT/metrics (e.g. 127.0.0.1:9465)", metavar="HOST:PORT",
        shown="off")

    parser.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_logging_options(parser)
    return parser


RUN_FLAGS = {
    **SOURCE_FLAGS,
    "pace": ("--pace", "source.pace"),
    **DETECTOR_FLAGS,
    **UPLINK_FLAGS,
    **REDACTION_FLAGS,
    "collector": ("--collector", "uplink.collector"),
    "device": ("--device", "uplink.device"),
    "window": ("--window", "uplink.window"),
    "ack_timeout": ("--ack-timeout", "uplink.ack_timeout_s"),
    "failover_after": ("--failover-after", "uplink.failover_after_s"),
    "flush_timeout": ("--flush-timeout", "uplink.flush_timeout_s"),
    "spool_dir": ("--spool-dir", "uplink.spool_dir"),
    "model_store": ("--model-store", "uplink.model_store"),
    "spool_max_mb": ("--spool-max-mb", "uplink.spool_max_mb"),
    "status_interval": ("--status-interval", "uplink.status_interval_s"),
    "metrics": ("--metrics", "metrics.address"),
}
"""``run``'s other flags that a config file can set: argparse destination -> (flag, key)."""


def load_run_config(args: argparse.Namespace):
    """``run``'s settings: flag > ``--config`` file > default. Raises ConfigError naming the flag or key.

    Checks what only the whole can tell: a source, a model and a security choice are required.
    """
    from edge.cameras import sources_from_flags, split_named
    from edge.config import load_config
    from edge.contract.config_files import Override

    overrides = flag_overrides(args, {**SELECTION_FLAGS, **RUN_FLAGS})
    # The security choice on the command line replaces the file's, whichever way the file chose.
    if args.insecure:
        overrides["uplink.insecure"] = Override(True, "--insecure")
        overrides["uplink.credentials"] = Override("", "--insecure")
    elif args.credentials is not None:
        overrides["uplink.credentials"] = Override(args.credentials, "--credentials")
        overrides["uplink.insecure"] = Override(False, "--credentials")
    if args.source:  # the flags replace the file's cameras, one or several
        if len(args.source) == 1 and split_named(args.source[0])[0] is None:
            overrides["source.source"] = Override(args.source[0], "--source")
            overrides["cameras"] = Override([], "--source")
        else:
            overrides["source.source"] = Override("", "--source")
            overrides["cameras"] = Override(sources_from_flags(args.source), "--source")
    config = load_config(args.config, overrides)
    in_file = " in the --config file" if args.config else " in a --config file"
    if config.source.source and config.cameras:
        raise ConfigError(f"{config.origin_of('cameras')}: source.source and [[cameras]] are both set: expected one "
                          "camera ([source]) or several ([[cameras]]), not both")
    if not config.source.source and not config.cameras:
        raise ConfigError(f"no source: give --source SRC, or set source.source or [[cameras]]{in_file}")
    if not config.detector.model:
        raise ConfigError(f"no model: give --model MODEL, or set detector.model{in_file}")
    uplink = config.uplink
    if uplink.insecure and uplink.credentials:
        raise ConfigError(f"{config.origin_of('uplink.insecure')}: uplink.insecure = true and uplink.credentials = "
                          f"{uplink.credentials!r}: expected one of them, not both")
    if not uplink.insecure and not uplink.credentials:
        raise ConfigError("no security choice: give --credentials FILE or --insecure, or set uplink.credentials "
                          f"or uplink.insecure = true{in_file}")
    return config


def run(args: argparse.Namespace) -> int:
    configure_logging(args)
    # Imported here so that `--help` stays fast and works without the heavy packages.
    from edge.commands.detector_args import settings_from_config, tiled
    from edge.contract.credentials import read_credentials
    from edge.detection.class_names import read_labels_file
    from edge.detection.runner import Detector
    from edge.models import resolve_model
    from edge.pacing import PacedSource
    from edge.pipeline import Pipeline
    from edge.rollout.channel import RolloutChannel
    from edge.rollout.live import ModelSlot
    from edge.rollout.manager import RolloutManager
    from edge.rollout.recent import RecentFrames
    from edge.rollout.store import ModelStore
    from edge.sender import FrameSender
    from edge.sources import open_source, redact_url
    from edge.spool import Spool
    from edge.tracking import ByteTracker
    from edge.uplink import Uplink

    config = load_run_config(args)  # before the model: a typo in the config fails at once
    up, det = config.uplink, config.detector
    credentials = read_credentials(up.credentials) if up.credentials else None
    endpoints = up.collectors or (credentials.endpoints if credentials else ())
    if not endpoints:
        raise ConfigError("--collector is required with --insecure (e.g. --collector tcp://127.0.0.1:5555, "
                          "or uplink.collector in --config)")
    endpoint = ", ".join(endpoints)  # for the log
    if credentials is not None:
        credentials.collectors_for(endpoints)  # a --collector without a server key fails now, not after the model
        if up.device and up.device != credentials.device:
            raise ConfigError(f"--device {up.device!r} differs from the credentials' device {credentials.device!r}")
        device = credentials.device
    else:
        device = up.device or socket.gethostname()
        log.warning("INSECURE: frames go to %s unencrypted and unauthenticated (%s)", endpoint,
                    "--insecure" if config.origin_of("uplink.insecure") == "--insecure"
                    else f"uplink.insecure = true in {config.origin_of('uplink.insecure')}")
    from edge.cameras import camera_device, camera_specs, opener
    from edge.pipeline import Camera
    from edge.selection import build_selector

    specs = camera_specs(config)
    runtime_settings = settings_from_config(det)
    labels = read_labels_file(det.labels) if det.labels else None

    def load_detector(path: Path) -> Detector:
        """A detector for ``path`` with the flags' settings: the start's, and each rollout's."""
        return Detector(path, score_threshold=det.score_threshold, runtime=runtime_settings,
                        layout=det.layout or None, class_names=labels)

    spool_dir = Path(up.spool_dir) if up.spool_dir else default_spool_dir(device)
    store = ModelStore(Path(up.model_store) if up.model_store else spool_dir / "models")
    detector = _accepted_detector(store, load_detector, det.model) or load_detector(resolve_model(det.model))
    slot = ModelSlot(detector)
    shared_detector = slot.detector_for(lambda d: tiled(d, det.tiles, det.tile_overlap, det.tile_full_frame))
    # Before the spool and the socket: a bad target or a missing face model fails here.
    from edge.redaction.redactor import redaction_stage

    redacted = redaction_stage(config.redaction, detector.class_names, config.origin_of("redaction.targets"))
    spool = Spool(spool_dir, device,
                  max_bytes=int(up.spool_max_mb * 1024 * 1024), first_seq=first_sequence_number)
    stopping = threading.Event()
    cameras = []
    for spec in specs:
        if spec.name:  # one of several: opened in its own thread, so a dead camera holds nobody up
            source = opener(spec, stopping)
        else:
            source = open_source(spec.source, image_fps=spec.image_fps, decoder=spec.decoder)
            if spec.pace:
                source = PacedSource(source, spec.pace)
        cameras.append(Camera(
            camera_device(device, spec), source,
            build_selector(spec.selection, jpeg_quality=up.jpeg_quality, origins=dict(config.origins)),
            # Track ids continue after the last run's: the collector knows a track as (device, track id).
            tracker=ByteTracker(first_track_id=spool.next_track_id), detect_every=spec.detect_every,
            detector=None if spec.tiles == det.tiles else slot.detector_for(
                lambda d, tiles=spec.tiles: tiled(d, tiles, det.tile_overlap, det.tile_full_frame)),
        ))  # fmt: skip
    sender = FrameSender(endpoints, credentials, window=up.window, ack_timeout_s=up.ack_timeout_s,
                         failover_after_s=up.failover_after_s or None)
    first_model = detector.deployed_id
    pipeline: Pipeline | None = None

    def statuses() -> dict[str, dict[str, float]]:
        elapsed = time.monotonic() - started
        return {camera.name: camera_counters(camera, elapsed) for camera in cameras}

    uplink = Uplink(
        sender,
        spool,
        model_id=detector.deployed_id,
        class_names=tuple(detector.class_names),
        jpeg_quality=up.jpeg_quality,
        flush_timeout_s=up.flush_timeout_s,
        status_interval_s=up.status_interval_s,
        statuses=statuses,
    )
    recent = RecentFrames(redacted(uplink))
    rollout = RolloutManager(
        device=device, devices={camera.name for camera in cameras},
        signing_key=credentials.model_signing_key if credentials else "", store=store,
        channel=RolloutChannel(lambda: sender.endpoint, credentials), slot=slot, load=load_detector,
        wrap=lambda d: tiled(d, det.tiles, det.tile_overlap, det.tile_full_frame), recent=recent,
        check=lambda candidate: redaction_conflict(config.redaction.targets, detector.class_names,
                                                   candidate.class_names))
    sender.on_offer = rollout.offer

    def swapped(new_detector) -> None:
        uplink.model_id = new_detector.deployed_id  # heartbeats from now on
        uplink.class_names = tuple(new_detector.class_names)

    slot.on_swap(swapped)
    pipeline = Pipeline.for_cameras(cameras, shared_detector, recent, detections_in_flight=detector.streams)
    started = time.monotonic()
    # redact_url: a stream's password must not reach the log.
    described = ("; ".join(f"{camera.name}: {redact_url(spec.source)}" for camera, spec in zip(cameras, specs))
                 if specs[0].name else cameras[0].opened.description)
    log.info("device %r: %s → %s with %s on %s; spool %s", device, described, endpoint, detector.model_id,
             detector.runtime.description, spool.directory)

    metrics = None
    metrics_address = config.metrics.address
    if metrics_address:
        from edge.agent_metrics import AgentMetrics
        from edge.contract.metrics_http import MetricsServer

        try:
            metrics = MetricsServer(metrics_address, AgentMetrics(device, statuses, sender.counts, spool))
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {metrics_address}: {exc.strerror or exc}") from None

    def stop(*_):
        stopping.set()
        pipeline.stop()

    previous = signal.signal(signal.SIGTERM, stop)
    rollout.start()
    try:
        counts = pipeline.run()
    finally:
        stopping.set()
        rollout.stop()  # before the sender: its last report may still go out
        signal.signal(signal.SIGTERM, previous)  # (only now: a SIGTERM while the rollout ends must not kill)
        if metrics is not None:
            metrics.stop()
        for camera in cameras:
            if camera.opened is not None:
                camera.opened.close()
        sender.close()
        spool.close()

    sent = sender.counts
    summary = {
        "device": device,
        "model": slot.model.model_id,
        "runtime": detector.runtime.description,
        "frames_read": counts.frames_read,
        "frames_dropped": counts.frames_dropped,
        "frames_detected": counts.frames_detected,
        "selected": counts.frames_selected,
        "tracks_confirmed": counts.tracks_confirmed,
        "kept_by_reason": _summed(camera.selector.counts.kept_by_reason for camera in cameras),
        "rejected_by_flaw": _summed(camera.selector.counts.rejected for camera in cameras),
        "overruled_by": _summed(camera.selector.counts.overruled for camera in cameras),
        "missed_tracks": sum(getattr(camera.selector.counts, "missed_tracks", 0) for camera in cameras),
        "sent": sent.sent,
        "acknowledged": sent.acknowledged,
        "duplicates": sent.duplicates,
        "rejected": sum(sent.rejected.values()),
        "rejected_by_code": dict(sent.rejected),
        "unacknowledged": uplink.unacknowledged,
        "evicted": uplink.evicted,
        "retransmits": sent.retransmits,
        "failovers": sent.failovers,
        "jpeg_bytes_spooled": uplink.bytes_spooled,
        "spool_dir": str(spool.directory),
        **({"first_model": first_model, "model_swaps": rollout.swaps} if rollout.swaps else {}),
        "seconds": round(counts.seconds, 3),
        # Frames through the whole pipeline per second (with --detect-every k the detector saw 1/k of them).
        "fps": round((counts.frames_read - counts.frames_dropped) / counts.seconds, 2) if counts.seconds else 0.0,
    }
    failed = {camera.name: str(camera.error) for camera in cameras if camera.error is not None}
    if specs[0].name:
        summary["cameras"] = {
            spec.name: {"device": camera.name, **camera_counters(camera, counts.seconds),
                        "error": failed.get(camera.name)}
            for spec, camera in zip(specs, cameras)
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
        for name, camera in summary.get("cameras", {}).items():
            print(f"  {name}: frames read {camera['frames_read']}, selected {camera['selected']}, "
                  f"dropped {camera['frames_dropped']}" + (f", stopped: {camera['error']}" if camera["error"] else ""))
    if failed:
        print(f"edgelabel-agent run: warning: {len(failed)} of {len(cameras)} camera(s) stopped early: "
              + "; ".join(f"{name}: {why}" for name, why in failed.items()), file=sys.stderr)
        return 1
    if summary["unacknowledged"] or summary["rejected"] or summary["evicted"]:
        print(
            "edgelabel-agent run: warning: not every selected frame reached the collector "
            f"({summary['unacknowledged']} still spooled, {summary['rejected']} rejected, {summary['evicted']} evicted)",
            file=sys.stderr,
        )
        return 1
    return 0


def _accepted_detector(store, load_detector, fallback: str):
    """The detector of the model a rollout last accepted, or None (then ``--model`` runs)."""
    accepted = store.current
    if accepted is None:
        return None
    path = store.path_of(accepted)
    try:
        detector = load_detector(path)
    except Exception as exc:  # any load error: the fallback is exactly what --model is for
        log.warning("the accepted model %s in the model store cannot be loaded (%s); starting on --model %s",
                    path, exc, fallback)
        return None
    log.info("starting on the model last accepted by a rollout: %s (%s, deployment %d) from %s, instead of "
             "--model %s", detector.model_id, accepted.name, accepted.deployment, store.directory, fallback)
    return detector


def redaction_conflict(targets, current_names, candidate_names) -> str:
    """Why a candidate model would break redaction ("" when it would not): the redactor found its
    classes by id in the current model's names, so a candidate must name them at the same ids."""
    for target in targets:
        name = "person" if target == "heads" else target
        if target == "faces" or name not in current_names:
            continue
        expected = list(current_names).index(name)
        if expected >= len(candidate_names) or candidate_names[expected] != name:
            return (f"redaction of {target!r} needs class {name!r} at id {expected}, as in the current model; "
                    "the new model names its classes differently")
    return ""


def camera_counters(camera, elapsed_s: float) -> dict[str, float]:
    """What a camera's heartbeat carries: its pipeline counters and its selector's rejections."""
    counts = camera.counts
    processed = counts.frames_read - counts.frames_dropped
    return {"fps": round(processed / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            "frames_read": counts.frames_read, "frames_dropped": counts.frames_dropped,
            "selected": counts.frames_selected,
            # A camera gone black or blurred shows up here (e.g. rejected_black) on the collector.
            **{f"rejected_{flaw}": n for flaw, n in dict(camera.selector.counts.rejected).items()},
            # Only once there are some: a collector older than the counter rejects its name.
            **({"missed_tracks": missed} if (missed := getattr(camera.selector.counts, "missed_tracks", 0)) else {})}


def _summed(counters) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(total)


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
