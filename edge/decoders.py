"""Which decoder opens a video file or stream: OpenCV's FFmpeg (everywhere), or a Jetson's hardware.

A 3K HEVC stream costs a CPU core or more to decode (about 84 frames/s on one core of the test
machine); a Jetson decodes it in its NVDEC engine instead. ``jetson`` asks OpenCV's GStreamer
backend for ``uridecodebin`` (which picks ``nvv4l2decoder`` on a Jetson) and ``nvvidconv`` for the
colour conversion. Where that cannot work (an OpenCV without GStreamer, such as the PyPI wheels,
or a machine without NVIDIA's GStreamer plugins) the source is opened with FFmpeg, and the log
says so once per source.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2

from edge.config import DECODERS

log = logging.getLogger("edge.sources")


@lru_cache(maxsize=1)
def opencv_has_gstreamer() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


def jetson_pipeline(target: str) -> str:
    """The GStreamer pipeline that decodes ``target`` (a file path or a URL) on a Jetson."""
    uri = target if "://" in target else Path(target).resolve().as_uri()
    return (f"uridecodebin uri={uri} ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! "
            "video/x-raw,format=BGR ! appsink drop=false sync=false")


def capture_factory(decoder: str, fallback):
    """A capture factory for ``decoder``; ``fallback`` (the FFmpeg factory of the source kind) opens
    the source when the hardware path is unavailable or fails to open it."""
    if decoder == "ffmpeg":
        return fallback
    if decoder != "jetson":
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")

    def open_capture(target: Any):
        if not opencv_has_gstreamer():
            log.warning("decoder jetson: this OpenCV has no GStreamer backend (PyPI's wheels have none); "
                        "decoding %s with FFmpeg on the CPU instead", target)
            return fallback(target)
        capture = cv2.VideoCapture(jetson_pipeline(str(target)), cv2.CAP_GSTREAMER)
        if capture.isOpened():
            log.info("decoding %s in hardware (GStreamer, nvv4l2decoder)", target)
            return capture
        capture.release()
        log.warning("decoder jetson: GStreamer could not open %s (no nvv4l2decoder/nvvidconv here?); decoding "
                    "with FFmpeg on the CPU instead", target)
        return fallback(target)

    return open_capture
