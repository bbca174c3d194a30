"""The flags every detecting command shares: the runtime (``--runtime``, ``--threads``,
``--streams``, ``--provider``, ``--openvino-device``, ``--precision``) and tiling (``--tiles``,
``--tile-overlap``, ``--no-full-frame``), and the settings they and the config make.

Light on purpose: imported when the parser is built, so ``--help`` needs no heavy package.
"""

from __future__ import annotations

import argparse

from edge.config import PRECISIONS, RUNTIME_CHOICES


def add_runtime_arguments(group, *, config_defaults: bool = False) -> None:
    """Add the flags to ``group`` (a parser or argument group).

    With ``config_defaults`` every flag defaults to None, so that ``run`` can tell a flag from the
    config file's value; otherwise the defaults are the config's defaults.
    """

    def default(value):
        return None if config_defaults else value

    group.add_argument(
        "--runtime", choices=RUNTIME_CHOICES, default=default("auto"),
        help="inference runtime: onnxruntime, openvino (the 'openvino' extra), or auto: OpenVINO for an "
             "OpenVINO IR .xml model, ONNX Runtime for .onnx (default: auto)",
    )  # fmt: skip
    group.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="threads inside one inference (default: the runtime's choice, one per core)",
    )  # fmt: skip
    group.add_argument(
        "--streams", type=int, default=None, metavar="N",
        help="inferences side by side, each on its share of --threads; more frames per second, each a little later "
             "(default: 2 on a machine with two or more cores, else 1)",
    )  # fmt: skip
    group.add_argument(
        "--provider", action="append", default=None, metavar="NAME",
        help="ONNX Runtime execution provider by full or short name (cpu, cuda, tensorrt, openvino), repeatable, "
             "most preferred first; unavailable ones fall back to CPU with a warning (default: cpu)",
    )  # fmt: skip
    group.add_argument(
        "--openvino-device", default=None, metavar="DEVICE",
        help="OpenVINO device: CPU, GPU, NPU or AUTO (default: CPU)",
    )  # fmt: skip
    group.add_argument(
        "--precision", choices=PRECISIONS, default=None,
        help="OpenVINO precision of float layers: f32 (what quantize checks), bf16, f16, or default: the "
             "device's choice, bf16 on CPUs with AMX (default: f32)",
    )  # fmt: skip


def settings_from_args(args: argparse.Namespace, pipelined: bool = True):
    """:class:`RuntimeSettings` from the flags of a command without a config file.

    ``pipelined``: the command keeps several frames in detection at once (``sample``,
    ``benchmark``); a command that detects one image after another (``detect``, ``track``) gets one
    stream unless ``--streams`` asks for more, since idle streams only split its threads.
    """
    from edge.detection.runtimes import RuntimeSettings

    return RuntimeSettings(
        name=args.runtime or "auto",
        threads=args.threads,
        streams=resolve_streams(args.streams or 0) if pipelined or args.streams else 1,
        providers=tuple(args.provider or ("CPUExecutionProvider",)),
        device=args.openvino_device or "CPU",
        precision=args.precision or "f32",
    )


def settings_from_config(detector_config, origin: str = "[detector.tensorrt]"):
    """:class:`RuntimeSettings` from a ``[detector]`` config (flags already merged into it).

    Raises ConfigError (naming ``origin``) for settings that are valid one by one but clash.
    """
    from edge.detection.runtimes import RuntimeSettings
    from edge.detection.tensorrt import TENSORRT, tensorrt_provider_options

    det = detector_config
    providers = tuple(det.providers)
    options = {}
    # Matched by name here: importing onnxruntime's name table would fail on an OpenVINO-only device.
    if any(p.strip().lower() in ("tensorrt", "trt", TENSORRT.lower()) for p in providers):
        trt = det.tensorrt
        options[TENSORRT] = tensorrt_provider_options(
            fp16=trt.fp16, int8=trt.int8, int8_calibration_table=trt.int8_calibration_table,
            engine_cache_dir=trt.engine_cache_dir, timing_cache=trt.timing_cache,
            max_workspace_mb=trt.max_workspace_mb, origin=origin,
        )  # fmt: skip
    return RuntimeSettings(
        name=det.runtime,
        threads=det.threads or None,
        streams=resolve_streams(det.streams),
        providers=providers,
        provider_options=options,
        device=det.openvino.device,
        precision=det.openvino.precision,
    )


def resolve_streams(streams: int) -> int:
    """``streams``, or for 0 the automatic choice: two where there are two or more cores."""
    if streams < 0:
        from edge.contract.errors import ConfigError

        raise ConfigError(f"--streams must be at least 0, got {streams}")
    if streams:
        return streams
    import os

    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def add_tiling_arguments(group, *, config_defaults: bool = False) -> None:
    """``--tiles``, ``--tile-overlap`` and ``--no-full-frame`` (defaults None with ``config_defaults``)."""
    group.add_argument(
        "--tiles", default=None if config_defaults else "auto", metavar="auto|RxC|off",
        help="sliced inference for large frames: auto (a grid for frames more than twice the model's input, e.g. "
             "2x4 for 3072x1728 at 416; none for smaller ones), ROWSxCOLS, or off (default: auto)",
    )  # fmt: skip
    group.add_argument(
        "--tile-overlap", type=float, default=None if config_defaults else 0.2, metavar="F",
        help="share of a tile shared with its neighbour, in [0, 0.9) (default: 0.2)",
    )  # fmt: skip
    group.add_argument(
        "--no-full-frame", dest="full_frame", action="store_false", default=None if config_defaults else True,
        help="with tiles, do not also detect on the whole frame shrunk to the input (it finds objects larger "
             "than a tile; one more inference per frame)",
    )  # fmt: skip


def detector_from_args(args: argparse.Namespace, *, pipelined: bool = True, **settings):
    """The detector a command's ``--model``, runtime and tiling flags describe; ``settings`` go to
    :class:`~edge.detection.runner.Detector` (score threshold, class names, layout...)."""
    from edge.detection.runner import Detector
    from edge.models import resolve_model

    detector = Detector(resolve_model(args.model), runtime=settings_from_args(args, pipelined), **settings)
    return tiled(detector, args.tiles, args.tile_overlap, args.full_frame)


def tiled(detector, tiles: str, overlap: float, full_frame: bool):
    """``detector`` wrapped for sliced inference (a no-op for small frames and ``off``)."""
    from edge.detection.tiled import TiledDetector

    return TiledDetector(detector, tiles, overlap, full_frame)


DETECTOR_FLAGS = {
    "runtime": ("--runtime", "detector.runtime"),
    "threads": ("--threads", "detector.threads"),
    "streams": ("--streams", "detector.streams"),
    "provider": ("--provider", "detector.providers"),
    "openvino_device": ("--openvino-device", "detector.openvino.device"),
    "precision": ("--precision", "detector.openvino.precision"),
    "tiles": ("--tiles", "detector.tiles"),
    "tile_overlap": ("--tile-overlap", "detector.tile_overlap"),
    "full_frame": ("--no-full-frame", "detector.tile_full_frame"),
}
"""The flags as config overrides: argparse destination -> (flag, key of the config file)."""
