"""The option groups the agent's commands share, each flag declared once.

* :func:`add_source_options`: ``--source``, ``--image-fps``, ``--decoder``;
* :func:`add_detector_options`: ``--model``, ``--score-threshold``, the runtime (``--runtime``,
  ``--threads``, ``--streams``, ``--provider``, ``--openvino-device``, ``--precision``), tiling
  (``--tiles``, ``--tile-overlap``, ``--no-full-frame``) and the model's output (``--layout``,
  ``--labels``, :func:`add_model_output_options`); :func:`add_detect_every` for the commands that
  track between detections;
* :func:`add_selection_options`: ``--config`` and the keyframe selection flags, and
  :func:`add_jpeg_quality` (``run``, ``sample``);
* :func:`add_logging_options`: ``-v``, ``-q`` and, for commands with a progress bar, ``--no-progress``.

Each flag sets a key of the agent's config file (the ``*_FLAGS`` tables say which) and its default
is that key's default in :mod:`edge.config`, read from the dataclass field, so every default is
written in one place. ``run`` adds the groups with ``config_defaults=True``: every default is then
None, so that a flag left out lets the ``--config`` file's value (or the field's default) through.

Light on purpose: imported when the parser is built, so ``--help`` needs no heavy package.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from edge import logs
from edge.config import (
    DECODERS,
    FACES,
    HEADS,
    LAYOUTS,
    PRECISIONS,
    REDACTION_STYLES,
    RUNTIME_CHOICES,
    AgentConfig,
)

SOURCE_FLAGS = {
    "image_fps": ("--image-fps", "source.image_fps"),
    "decoder": ("--decoder", "source.decoder"),
}
DETECTOR_FLAGS = {
    "model": ("--model", "detector.model"),
    "score_threshold": ("--score-threshold", "detector.score_threshold"),
    "runtime": ("--runtime", "detector.runtime"),
    "threads": ("--threads", "detector.threads"),
    "streams": ("--streams", "detector.streams"),
    "provider": ("--provider", "detector.providers"),
    "openvino_device": ("--openvino-device", "detector.openvino.device"),
    "precision": ("--precision", "detector.openvino.precision"),
    "tiles": ("--tiles", "detector.tiles"),
    "tile_overlap": ("--tile-overlap", "detector.tile_overlap"),
    "full_frame": ("--no-full-frame", "detector.tile_full_frame"),
    "layout": ("--layout", "detector.layout"),
    "labels": ("--labels", "detector.labels"),
    "detect_every": ("--detect-every", "detector.detect_every"),
}
UPLINK_FLAGS = {
    "jpeg_quality": ("--jpeg-quality", "uplink.jpeg_quality"),
}
REDACTION_FLAGS = {
    "redact": ("--redact", "redaction.targets"),
    "redact_style": ("--redact-style", "redaction.style"),
    "redact_strength": ("--redact-strength", "redaction.strength"),
    "redact_margin": ("--redact-margin", "redaction.margin"),
}
SELECTION_FLAGS = {
    "min_gap": ("--min-gap", "selection.interval.min_gap_s"),
    "max_gap": ("--max-gap", "selection.interval.max_gap_s"),
    "scene_threshold": ("--scene-threshold", "selection.scene_change.threshold"),
    "keyframes_per_minute": ("--keyframes-per-minute", "selection.budget.keyframes_per_minute"),
    "megabytes_per_hour": ("--megabytes-per-hour", "selection.budget.megabytes_per_hour"),
}
"""Each table: argparse destination -> (flag, key of the config file it sets)."""

SOURCE_HELP = "video file, image directory (sorted), camera index, or rtsp:// / http(s):// URL"
MODEL_HELP = "detector: an ONNX file, an OpenVINO IR .xml, or a known name such as yolox-nano"
THREADS_HELP = "threads inside one inference"
"""Also the start of ``quantize``'s ``--threads``, which has its own default (timing compares models)."""


def config_default(key: str) -> Any:
    """The default of a config key, from its dataclass field: ``detector.score_threshold`` -> 0.3."""
    table: Any = AgentConfig
    *tables, leaf = key.split(".")
    for name in tables:
        table = typing.get_type_hints(table)[name]
    field = {f.name: f for f in dataclasses.fields(table)}[leaf]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class ConfigFlags:
    """Adds flags of a ``*_FLAGS`` table to a group, their defaults and help's "(default: ...)" from the config."""

    def __init__(self, group, table: dict, config_defaults: bool):
        self.group = group
        self.table = table
        self.config_defaults = config_defaults

    def add(self, dest: str, help: str, *, shown: str | None = None, **kwargs) -> None:
        """``shown``: the default as help should say it, where the field's value is a "not set"
        marker ("" for a switch: no default to show)."""
        flag, key = self.table[dest]
        default = config_default(key)
        kwargs.setdefault("default", None if self.config_defaults else default)
        shown = _shown(default) if shown is None else shown
        self.group.add_argument(flag, dest=dest, help=f"{help} (default: {shown})" if shown else help, **kwargs)


def add_source_options(parser, *, config_defaults: bool = False):
    """``--source``, ``--image-fps`` and ``--decoder``; returns the group.

    With ``config_defaults`` (``run``) ``--source`` may come from the config file instead, and may be
    given once per camera as ``NAME=SRC``.
    """
    group = parser.add_argument_group("source")
    if config_defaults:
        group.add_argument("--source", metavar="[NAME=]SRC", action="append", default=None,
                           help=f"{SOURCE_HELP} (required, here or as source.source in --config); give it once "
                                "per camera for several cameras in one agent, each its own device NAME at the "
                                "collector (default name: the file name, or cam<i>)")
    else:
        group.add_argument("--source", required=True, metavar="SRC", help=SOURCE_HELP)
    flags = ConfigFlags(group, SOURCE_FLAGS, config_defaults)
    flags.add("image_fps", "frame rate assumed for an image directory", type=float, metavar="FPS")
    flags.add("decoder", "video decoding: ffmpeg (the CPU), or jetson (NVDEC through GStreamer; falls back to "
                         "ffmpeg with a warning where that is not available)", choices=DECODERS)
    return group


def add_detector_options(parser, *, config_defaults: bool = False):
    """The detector's flags (see the module docstring); returns the group.

    With ``config_defaults`` (``run``) ``--model`` may come from the config file instead.
    """
    group = parser.add_argument_group("detector")
    group.add_argument("--model", required=not config_defaults, default=None, metavar="MODEL",
                       help=MODEL_HELP + (" (required, here or as detector.model in --config)" if config_defaults
                                          else ""))
    flags = ConfigFlags(group, DETECTOR_FLAGS, config_defaults)
    flags.add("score_threshold", "keep detections at or above this score, 0-1; lower finds more objects and more "
                                 "false alarms", type=float, metavar="S")
    add_runtime_options(flags)
    add_tiling_options(flags)
    add_model_output_options(group, config_defaults=config_defaults)
    return group


def add_model_output_options(group, *, config_defaults: bool = False) -> None:
    """``--layout`` and ``--labels``: how to read the model's output (also ``quantize``'s)."""
    flags = ConfigFlags(group, DETECTOR_FLAGS, config_defaults)
    flags.add("layout", "the model's output layout, when recognising it from the graph gets it wrong",
              choices=LAYOUTS, shown="recognised from the graph")
    flags.add("labels", "class names, one per line, in class-index order", metavar="FILE",
              shown="the model's metadata, else COCO-80")


def add_runtime_options(flags: ConfigFlags) -> None:
    flags.add("runtime", "inference runtime: onnxruntime, openvino (the 'openvino' extra), or auto: OpenVINO for an "
                         "OpenVINO IR .xml model, ONNX Runtime for .onnx", choices=RUNTIME_CHOICES)
    flags.add("threads", THREADS_HELP, type=int, metavar="N", shown="the runtime's choice, one per core")
    flags.add("streams", "inferences side by side, each on its share of --threads; more frames per second, each a "
                         "little later", type=int, metavar="N",
              shown="2 on a machine with two or more cores, else 1")
    # Appended to, so never a list by default: settings_from_args falls back to the field's default.
    flags.add("provider", "ONNX Runtime execution provider by full or short name (cpu, cuda, tensorrt, openvino), "
                          "repeatable, most preferred first; unavailable ones fall back to CPU with a warning",
              action="append", default=None, metavar="NAME", shown="cpu")
    flags.add("openvino_device", "OpenVINO device: CPU, GPU, NPU or AUTO", metavar="DEVICE")
    flags.add("precision", "OpenVINO precision of float layers: f32 (what quantize checks), bf16, f16, or default: "
                           "the device's choice, bf16 on CPUs with AMX", choices=PRECISIONS)


def add_tiling_options(flags: ConfigFlags) -> None:
    flags.add("tiles", "sliced inference for large frames: auto (a grid for frames more than twice the model's input, "
                       "e.g. 2x4 for 3072x1728 at 416; none for smaller ones), ROWSxCOLS, or off",
              metavar="auto|RxC|off")
    flags.add("tile_overlap", "share of a tile shared with its neighbour, in [0, 0.9)", type=float, metavar="F")
    flags.add("full_frame", "with tiles, do not also detect on the whole frame shrunk to the input (it finds objects "
                            "larger than a tile; one more inference per frame)",
              action="store_false", shown="")


def add_detect_every(group, *, config_defaults: bool = False) -> None:
    """``--detect-every``, for the commands that track between detections."""
    ConfigFlags(group, DETECTOR_FLAGS, config_defaults).add(
        "detect_every", "run the detector on every K-th frame; the tracker predicts the frames between",
        type=int, metavar="K")


def add_jpeg_quality(group, *, config_defaults: bool = False) -> None:
    """``--jpeg-quality``: what ``run`` sends at, and what ``sample`` measures sizes and the bytes budget at."""
    ConfigFlags(group, UPLINK_FLAGS, config_defaults).add(
        "jpeg_quality", "JPEG quality of the kept frames as sent, 1-100", type=int, metavar="Q")


def add_selection_options(parser):
    """``--config`` and the selection flags, shared by ``run`` and ``sample``; returns the group.

    Their defaults come from ``--config``, so they are always None here.
    """
    group = parser.add_argument_group(
        "keyframe selection", "defaults come from --config (every key: deploy/agent.example.toml); a flag wins over the file")
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="agent config file (TOML); check it with 'edgelabel-agent check-config FILE'")
    flags = ConfigFlags(group, SELECTION_FLAGS, config_defaults=True)
    flags.add("min_gap", "never keep two frames closer than this in source time", type=float, metavar="SECONDS")
    flags.add("max_gap", "keep a frame at least this often, even in a static scene", type=float, metavar="SECONDS")
    flags.add("scene_threshold", "share of the picture that must change against the recently kept frames",
              type=float, metavar="FRACTION")
    flags.add("keyframes_per_minute", "budget: kept frames per minute on average, 0 for no limit",
              type=float, metavar="N")
    flags.add("megabytes_per_hour", "budget: JPEG megabytes per hour on average, 0 for no limit",
              type=float, metavar="MB")
    return group


def add_redaction_options(parser):
    """``--redact`` and its style flags (``run``, ``sample``); defaults from ``--config``'s ``[redaction]``."""
    group = parser.add_argument_group(
        "privacy redaction", "made unrecognizable in each kept frame before it is stored or sent; the pre-labels "
        "are computed on the original frame")
    flags = ConfigFlags(group, REDACTION_FLAGS, config_defaults=True)
    flags.add("redact", f"comma-separated: {FACES} (a face detector), {HEADS} (the top of each person box) and class "
                        "names of the detector (their whole box), e.g. faces,heads", type=_comma_list,
              metavar="TARGETS", shown="none")
    flags.add("redact_style", "how a box is made unrecognizable: blur, pixelate, or fill (solid black)",
              choices=REDACTION_STYLES)
    flags.add("redact_strength", "in (0, 1]: share of a box's larger side the blur spans; coarser pixels when "
                                 "pixelating", type=float, metavar="S")
    flags.add("redact_margin", "each box grows by this share of its size on every side, in (0, 2]", type=float,
              metavar="M")
    return group


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_logging_options(parser, *, progress: bool = False) -> None:
    """``-v``, ``-q`` and, with ``progress``, ``--no-progress``."""
    group = parser.add_argument_group("logging")
    group.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    group.add_argument("-q", "--quiet", action="store_true", help="errors only")
    if progress:
        group.add_argument("--no-progress", action="store_true", help="no progress bar")


def configure_logging(args: argparse.Namespace, *, quiet: bool = False) -> None:
    """Logging as ``-v``/``-q`` ask; ``quiet`` also means errors only (e.g. output meant for a program)."""
    logs.configure(-1 if quiet or args.quiet else args.verbose)


def flag_overrides(args: argparse.Namespace, flags: dict) -> dict:
    """The flags given (not None) as config overrides: key -> :class:`~edge.config.Override`."""
    from edge.contract.config_files import Override

    overrides = {}
    for dest, (flag, key) in flags.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides[key] = Override(str(value) if isinstance(value, Path) else value, flag)
    return overrides


def load_selection(args: argparse.Namespace, jpeg_quality: int):
    """The selector from ``--config`` and the selection flags; raises ConfigError naming the bad key."""
    from edge.config import load_config
    from edge.selection import build_selector

    config = load_config(args.config, flag_overrides(args, SELECTION_FLAGS))
    return build_selector(config.selection, jpeg_quality=jpeg_quality, origins=dict(config.origins))
