"""Frame sources on the real clips in ../shared/data, a real HTTP stream on loopback, and broken files."""

from __future__ import annotations

import http.server
import logging
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.errors import SourceError
from edge.sources import (
    CameraSource,
    Frame,
    ImageDirSource,
    StreamSource,
    VideoFileSource,
    open_source,
    redact_url,
)
from tests.conftest import DATA_DIR as DATA

VIDEOS = DATA / "videos"
PETS09 = VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
HIGHWAY_AVI = VIDEOS / "highway_cam_traffic_bgslibrary_video02.avi"
EIGHT_FRAMES = VIDEOS / "street_night_crowd_mmtracking_demo_8frames.mp4"
TUD_CAMPUS = DATA / "mot" / "TUD-Campus" / "img1"


def take(source, count: int) -> list[Frame]:
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


# --- video files ---------------------------------------------------------------------------------


def test_video_file_frames_have_index_stream_time_and_size():
    before = time.time()
    with open_source(PETS09) as source:
        assert isinstance(source, VideoFileSource)
        assert source.fps == 10.0 and not source.is_live
        assert source.reported_frames == 795
        frames = take(source, 40)
    assert [f.index for f in frames] == list(range(40))
    assert all(f.image.shape == (360, 480, 3) and f.image.dtype == np.uint8 for f in frames)
    assert (frames[0].width, frames[0].height) == (480, 360)
    # 10 fps: the stream position is index / 10 s.
    assert [f.source_ts for f in frames] == pytest.approx([i / 10 for i in range(40)], abs=1e-6)
    captured = [f.capture_ts for f in frames]
    assert before <= captured[0] and captured == sorted(captured) and captured[-1] <= time.time()


@pytest.mark.slow
def test_whole_video_decodes_every_frame_with_increasing_time():
    with VideoFileSource(PETS09) as source:
        stamps = [f.source_ts for f in source]
        assert source.frames_read == 795
    assert len(stamps) == 795
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[-1] == pytest.approx(79.4)


@pytest.mark.slow
def test_avi_that_reports_750_frames_yields_the_748_that_decode(caplog):
    caplog.set_level(logging.WARNING, logger="edge.sources")
    with VideoFileSource(HIGHWAY_AVI) as source:
        assert source.reported_frames == 750
        frames = [(f.index, f.source_ts) for f in source]
        assert source.frames_read == 748
    assert len(frames) == 748 and frames[-1][0] == 747
    # The container's position jumps back to 0 on the last frame; time must still move forward.
    stamps = [ts for _, ts in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[-1] == pytest.approx(stamps[-2] + 1 / 25)
    assert "decoding stopped after 748 of the 750 frames" in caplog.text


def test_truncated_video_ends_cleanly_with_what_decoded(tmp_path, caplog):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(PETS09.read_bytes()[:1_000_000])
    caplog.set_level(logging.WARNING, logger="edge.sources")
    with open_source(truncated) as source:
        count = sum(1 for _ in source)
    assert 0 < count < 795
    assert source.frames_read == count
    assert f"decoding stopped after {count} of the 795 frames" in caplog.text


def test_random_bytes_named_mp4_is_a_source_error(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"cannot open video .*corrupt\.mp4"):
        open_source(corrupt)


def test_video_that_opens_but_holds_no_frame_is_a_source_error(tmp_path):
    header_only = tmp_path / "header_only.mp4"
    header_only.write_bytes(PETS09.read_bytes()[:20_000])
    with pytest.raises(SourceError, match="has no decodable frames"):
        VideoFileSource(header_only)


def test_missing_path_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="no such file or directory: .*nope.mp4"):
        open_source(tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match="no such file"):
        VideoFileSource(tmp_path / "nope.mp4")


def test_a_source_is_read_once_and_close_ends_iteration():
    source = open_source(PETS09)
    frames = iter(source)
    next(frames)
    with pytest.raises(RuntimeError, match="already iterated"):
        iter(source)
    source.close()
    assert list(frames) == []
    source.close()  # idempotent


# --- image directories ---------------------------------------------------------------------------


def test_image_dir_is_read_in_name_order_at_the_configured_rate():
    with open_source(TUD_CAMPUS) as source:
        assert isinstance(source, ImageDirSource)
        assert source.fps == 10.0 and not source.is_live
        frames = list(source)
    assert len(frames) == 71 and source.skipped == 0
    assert [p.name for p in source.paths] == sorted(p.name for p in TUD_CAMPUS.glob("*.jpg"))
    assert [f.index for f in frames] == list(range(71))
    assert frames[10].source_ts == pytest.approx(1.0)
    assert frames[0].image.shape == (480, 640, 3)
    assert np.array_equal(frames[5].image, cv2.imread(str(TUD_CAMPUS / "000006.jpg")))


def test_image_fps_sets_source_time_of_directories_only():
    with open_source(TUD_CAMPUS, image_fps=25) as source:
        frames = take(source, 3)
    assert [f.source_ts for f in frames] == pytest.approx([0.0, 0.04, 0.08])
    with open_source(PETS09, image_fps=25) as video:  # a CLI may always pass it; a video keeps its own time
        assert video.fps == 10.0


def test_unreadable_images_are_skipped_counted_and_logged(tmp_path, caplog):
    for name in ("000001.jpg", "000002.jpg"):
        (tmp_path / name).write_bytes((TUD_CAMPUS / name).read_bytes())
    (tmp_path / "000001b.PNG").write_bytes(b"not a png at all")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    caplog.set_level(logging.WARNING, logger="edge.sources")
    with ImageDirSource(tmp_path) as source:
        frames = list(source)
    assert [p.name for p in source.paths] == ["000001.jpg", "000001b.PNG", "000002.jpg"]
    assert source.skipped == 1
    # Indices stay places in the listing, so paths[index] names the file of each frame.
    assert [source.paths[f.index].name for f in frames] == ["000001.jpg", "000002.jpg"]
    assert "skipping unreadable image" in caplog.text and "000001b.PNG" in caplog.text


def test_image_dir_without_images_is_a_source_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images .* in directory"):
        open_source(tmp_path)


def test_image_dir_where_nothing_decodes_is_a_source_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 broken")
    with ImageDirSource(tmp_path) as source, pytest.raises(SourceError, match="none of the 1 images"):
        list(source)


def test_bad_image_dir_rate_is_a_config_error():
    with pytest.raises(ConfigError, match="fps"):
        ImageDirSource(TUD_CAMPUS, fps=0)


# --- dispatch ------------------------------------------------------------------------------------


def test_open_source_rejects_options_that_do_not_apply():
    with pytest.raises(ConfigError, match=r"option\(s\) fps do not apply to VideoFileSource"):
        open_source(PETS09, fps=5)
    with pytest.raises(ConfigError, match=r"option\(s\) fps do not apply to ImageDirSource \(it takes: image_fps\)"):
        open_source(TUD_CAMPUS, fps=5)
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        open_source(TUD_CAMPUS, reconnect_max_s=5)


def test_open_source_rejects_unknown_schemes_and_empty_specs():
    with pytest.raises(SourceError, match="unsupported source scheme 'ftp'"):
        open_source("ftp://example.org/cam.mp4")
    with pytest.raises(SourceError, match=r"unsupported stream URL 'ftp://me:\*\*\*@cam/x'"):
        StreamSource("ftp://me:secret@cam/x")
    with pytest.raises(SourceError, match="empty source"):
        open_source("  ")


def test_digits_open_a_camera_and_a_missing_camera_is_a_source_error():
    with pytest.raises(SourceError, match="cannot open camera 99"):
        open_source("99")


def test_camera_source_reads_through_its_capture():
    # No camera on a test machine: open the "camera" on a real clip through the capture factory.
    with CameraSource(0, open_capture=lambda index: cv2.VideoCapture(str(EIGHT_FRAMES))) as camera:
        assert camera.is_live and camera.description == "camera 0"
        frames = take(camera, 5)
    assert [f.index for f in frames] == list(range(5))
    assert frames[0].image.shape == (1080, 1920, 3)
    stamps = [f.source_ts for f in frames]
    assert stamps == sorted(stamps) and 0 <= stamps[0] < 5  # seconds since open


def test_passwords_in_stream_urls_never_reach_descriptions_or_errors():
    assert redact_url("rtsp://admin:hunter2@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert redact_url("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"
    with pytest.raises(SourceError) as error:
        open_source("rtsp://admin:hunter2@127.0.0.1:9/live", open_capture=lambda url: cv2.VideoCapture())
    assert "hunter2" not in str(error.value) and "admin:***@127.0.0.1:9" in str(error.value)


# --- streams -------------------------------------------------------------------------------------


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file with HTTP range requests, which FFmpeg needs to read an MP4 over HTTP."""

    served: Path

    def do_GET(self) -> None:
        data = self.served.read_bytes()
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = (int(match[1]), int(match[2] or len(data) - 1)) if match else (0, len(data) - 1)
        body = data[start : end + 1]
        self.send_response(206 if match else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_clip():
    handler = type("ClipHandler", (_RangeHandler,), {"served": EIGHT_FRAMES})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{EIGHT_FRAMES.name}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_http_stream_that_ends_is_reopened_and_keeps_delivering(http_clip, caplog):
    caplog.set_level(logging.INFO, logger="edge.sources")
    with open_source(http_clip, reconnect_initial_s=0.05) as stream:
        assert isinstance(stream, StreamSource) and stream.is_live
        frames = take(stream, 12)  # the clip has 8 frames: the rest come after a reopen
    assert [f.index for f in frames] == list(range(12))
    assert all(f.image.shape == (1080, 1920, 3) for f in frames)
    stamps = [f.source_ts for f in frames]
    assert stamps == sorted(stamps)
    assert stream.drops == 1 and stream.reconnect_attempts == 1
    assert f"stream {http_clip} dropped; reopening in 0.05 s (attempt 1)" in caplog.text
    assert f"stream {http_clip} reconnected after 1 attempt(s)" in caplog.text


class _FlakyNetwork:
    """Capture factory: real decodes of a clip, except that chosen open attempts find nothing."""

    def __init__(self, failing_opens: set[int]):
        self.failing_opens = failing_opens
        self.opens = 0

    def __call__(self, url: str) -> cv2.VideoCapture:
        self.opens += 1
        if self.opens in self.failing_opens:
            return cv2.VideoCapture()  # a capture that did not open, as for an unreachable camera
        return cv2.VideoCapture(str(EIGHT_FRAMES))


def test_stream_backs_off_exponentially_until_the_camera_returns(caplog):
    caplog.set_level(logging.INFO, logger="edge.sources")
    network = _FlakyNetwork(failing_opens={2, 3})  # open 1 works; reopens 1 and 2 fail; 3 works
    stream = StreamSource(
        "rtsp://cam.local/live", open_capture=network, reconnect_initial_s=0.05, reconnect_max_s=0.1
    )
    with stream:
        frames = take(stream, 16)
    assert [f.index for f in frames] == list(range(16))
    assert network.opens == 4 and stream.drops == 1 and stream.reconnect_attempts == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "stream rtsp://cam.local/live dropped; reopening in 0.05 s (attempt 1)",
        "stream rtsp://cam.local/live did not reopen; reopening in 0.1 s (attempt 2)",
        "stream rtsp://cam.local/live did not reopen; reopening in 0.1 s (attempt 3)",  # capped at max
    ]
    assert "stream rtsp://cam.local/live reconnected after 3 attempt(s)" in caplog.text
    # The pause in delivery is the backoff: 0.05 + 0.1 + 0.1 s between frame 7 and frame 8.
    assert frames[8].source_ts - frames[7].source_ts >= 0.25


def test_stream_gives_up_after_max_reconnects():
    network = _FlakyNetwork(failing_opens=set(range(2, 100)))
    stream = StreamSource("rtsp://cam.local/live", open_capture=network, reconnect_initial_s=0.01, max_reconnects=2)
    delivered = []
    gone = r"stream rtsp://cam.local/live is gone: 2 reconnect attempt\(s\) failed"
    with stream, pytest.raises(SourceError, match=gone):
        for frame in stream:
            delivered.append(frame.index)
    assert delivered == list(range(8))
    assert network.opens == 3


def test_close_from_another_thread_interrupts_the_backoff_wait(caplog):
    caplog.set_level(logging.WARNING, logger="edge.sources")
    stream = StreamSource(
        "http://cam.local/stream.mp4",
        open_capture=lambda url: cv2.VideoCapture(str(EIGHT_FRAMES)),
        reconnect_initial_s=30.0,
        reconnect_max_s=60.0,
    )
    delivered = []
    reader = threading.Thread(target=lambda: delivered.extend(f.index for f in stream))
    reader.start()
    deadline = time.monotonic() + 10
    while "reopening in 30 s" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "reopening in 30 s (attempt 1)" in caplog.text
    closed_at = time.monotonic()
    stream.close()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert time.monotonic() - closed_at < 1.0
    assert delivered == list(range(8))


def test_stream_that_never_opens_is_a_source_error():
    with pytest.raises(SourceError, match="cannot open stream http://127.0.0.1:9/none.mp4"):
        open_source("http://127.0.0.1:9/none.mp4")  # real FFmpeg, refused connection


def test_bad_reconnect_settings_are_config_errors():
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        StreamSource("rtsp://cam.local/live", reconnect_initial_s=5, reconnect_max_s=1)
