"""The decoder choice: FFmpeg everywhere, the Jetson's NVDEC through GStreamer where OpenCV has it."""

import logging

import pytest

from edge.decoders import capture_factory, jetson_pipeline, opencv_has_gstreamer
from edge.sources import open_source
from tests.conftest import DATA_DIR

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def test_jetson_pipeline_decodes_files_and_streams_with_nvidias_elements():
    stream = jetson_pipeline("rtsp://10.0.0.5/stream1")
    assert stream.startswith("uridecodebin uri=rtsp://10.0.0.5/stream1 ! nvvidconv !")
    assert stream.endswith("video/x-raw,format=BGR ! appsink drop=false sync=false")
    assert jetson_pipeline(str(PETS09)).startswith(f"uridecodebin uri=file://{PETS09}")


def test_without_gstreamer_the_jetson_decoder_falls_back_to_ffmpeg_and_says_so(caplog):
    if opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer; the fallback is for the PyPI wheels")
    with caplog.at_level(logging.WARNING, logger="edge.sources"):
        source = open_source(str(PETS09), decoder="jetson")
        frames = [frame for _, frame in zip(range(5), source)]
        source.close()
    assert len(frames) == 5 and frames[0].image.shape == (360, 480, 3)
    assert "decoder jetson: this OpenCV has no GStreamer backend" in caplog.text
    assert "FFmpeg on the CPU instead" in caplog.text


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="decoder must be one of ffmpeg, jetson"):
        capture_factory("vaapi", None)
