"""The detector a command's flags (:func:`edge.commands.options.add_detector_options`) or the
config's ``[detector]`` table describe, and its runtime settings.

Light on purpose: the heavy packages are imported only when a detector is built.
"""

from __future__ import annotations

import argparse

from edge.commands.options import config_default


def settings_from_args(args: argparse.Namespace, pipelined: bool = True):
    """:class:`RuntimeSettings` from the flags of a command without a config file.

    ``pipelined``: the command keeps several frames in detection at once (``sample``,
    ``benchmark``); a command that detects one image after another (``detect``, ``track``) gets one
    stream unless ``--streams`` asks for more, since idle streams only split its threads.
    """
    from edge.detection.runtimes import RuntimeSettings

    return RuntimeSettings(
        name=args.runtime,
        threads=args.threads or None,
        streams=resolve_streams(args.streams) if pipelined or args.streams else 1,
        providers=tuple(args.provider or config_default("detector.providers")),
        device=args.openvino_device,
        precision=args.precision,
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


def detector_from_args(args: argparse.Namespace, *, pipelined: bool = True, **settings):
    """The detector the detector flags describe; ``settings`` go to
    :class:`~edge.detection.runner.Detector` over the flags' (``iou_threshold``, or another
    ``score_threshold``)."""
    from edge.detection.class_names import read_labels_file
    from edge.detection.runner import Detector
    from edge.models import resolve_model

    settings = {"score_threshold": args.score_threshold, "layout": args.layout or None,
                "class_names": read_labels_file(args.labels) if args.labels else None, **settings}
    detector = Detector(resolve_model(args.model), runtime=settings_from_args(args, pipelined), **settings)
    return tiled(detector, args.tiles, args.tile_overlap, args.full_frame)


def tiled(detector, tiles: str, overlap: float, full_frame: bool):
    """``detector`` wrapped for sliced inference (a no-op for small frames and ``off``)."""
    from edge.detection.tiled import TiledDetector

    return TiledDetector(detector, tiles, overlap, full_frame)
