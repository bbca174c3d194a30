"""The agent pipeline with the real detector, real frames and a real receiver on loopback."""

import socket
import threading
import time

import numpy as np
import pytest

from edge.detection.runner import Detector
from edge.frame_detections import Detections
from edge.pipeline import Pipeline
from edge.selection import IntervalPolicy, KeyframeSelector, SceneChangePolicy
from edge.sender import FrameSender
from edge.sources import Frame, FrameSource, open_source
from edge.spool import Spool
from edge.uplink import Uplink
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import ReceiverThread

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus" / "img1"


@pytest.fixture(scope="module")
def detector():
    return Detector(MODEL_PATH, threads=1)


def picture_selector(min_gap_s: float) -> KeyframeSelector:
    """Time bounds and scene change only: these tests are about the pipeline, not the budget or quality gates."""
    return KeyframeSelector([IntervalPolicy(min_gap_s, 30.0), SceneChangePolicy()])


def make_uplink(endpoint, detector, spool_dir, ack_timeout_s=5.0):
    sender = FrameSender(endpoint, None, window=8, ack_timeout_s=ack_timeout_s)
    spool = Spool(spool_dir, "test-cam", max_bytes=64 * 2**20, first_seq=lambda: 1000)
    return sender, Uplink(sender, spool, model_id=detector.model_id, class_names=detector.class_names,
                          flush_timeout_s=30)


def test_image_directory_flows_through_detector_selector_and_uplink(tmp_path, detector):
    collector = ReceiverThread(tmp_path / "data")
    sender, uplink = make_uplink(collector.endpoint, detector, tmp_path / "spool")
    try:
        source = open_source(str(TUD_CAMPUS), image_fps=25.0)
        counts = Pipeline(source, detector, picture_selector(min_gap_s=0.5), uplink).run()
    finally:
        sender.close()
        collector.close()
    assert counts.frames_read == counts.frames_detected == 71
    assert counts.frames_dropped == 0
    assert 2 <= counts.frames_selected <= 6  # at most one per 0.5 s of a 2.84 s sequence
    assert sender.counts.acknowledged == counts.frames_selected
    assert sender.counts.retransmits == sender.counts.duplicates == 0  # a first connection resends nothing
    frames = collector.frames()
    assert [row["seq"] for row in frames] == list(range(1000, 1000 + counts.frames_selected))
    assert sorted(row["frame_index"] for row in frames)[0] == 0  # the first frame is always kept
    assert all(abs(row["source_ts"] - row["frame_index"] / 25.0) < 1e-6 for row in frames)


def test_frames_wait_in_the_sender_until_the_collector_comes_up(tmp_path, detector):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    sender, uplink = make_uplink(endpoint, detector, tmp_path / "spool", ack_timeout_s=0.5)
    collector = None
    try:
        source = open_source(str(TUD_CAMPUS), image_fps=25.0)
        pipeline = Pipeline(source, detector, picture_selector(min_gap_s=0.5), uplink)
        result = {}
        runner = threading.Thread(target=lambda: result.setdefault("counts", pipeline.run()))
        runner.start()
        time.sleep(2.0)  # the whole sequence is processed while nobody listens
        collector = ReceiverThread(tmp_path / "data", endpoint)
        runner.join(timeout=60)
        assert not runner.is_alive()
    finally:
        sender.close()
        if collector is not None:
            collector.close()
    counts = result["counts"]
    assert sender.counts.acknowledged == counts.frames_selected > 0
    assert len(collector.frames()) == counts.frames_selected


class _EndlessLiveSource(FrameSource):
    """A live camera stand-in that produces frames faster than any detector (the point is the drop rule)."""

    def __init__(self, frames_to_produce: int):
        self._frames_to_produce = frames_to_produce
        self._closed = threading.Event()
        self.produced = 0

    fps = 1000.0
    is_live = True
    description = "synthetic live source"

    def __iter__(self):
        image = np.zeros((64, 64, 3), np.uint8)
        for index in range(self._frames_to_produce):
            if self._closed.is_set():
                return
            self.produced += 1
            yield Frame(index, index / 1000.0, time.time(), image)

    def close(self):
        self._closed.set()


class _SlowDetector:
    def detect(self, image):
        time.sleep(0.005)
        return Detections.empty()


def test_a_live_source_drops_its_oldest_frames_when_the_detector_is_behind_and_counts_them(tmp_path, detector):
    collector = ReceiverThread(tmp_path / "data")
    sender, uplink = make_uplink(collector.endpoint, detector, tmp_path / "spool")
    source = _EndlessLiveSource(2000)
    try:
        counts = Pipeline(source, _SlowDetector(), picture_selector(min_gap_s=0.1), uplink).run()
    finally:
        sender.close()
        collector.close()
    assert counts.frames_read == source.produced == 2000
    assert counts.frames_dropped > 0
    assert counts.frames_detected + counts.frames_dropped == counts.frames_read
    assert sender.counts.acknowledged == counts.frames_selected


def test_stop_from_another_thread_ends_the_run_and_flushes_what_was_selected(tmp_path, detector):
    collector = ReceiverThread(tmp_path / "data")
    sender, uplink = make_uplink(collector.endpoint, detector, tmp_path / "spool")
    source = _EndlessLiveSource(10**9)
    pipeline = Pipeline(source, _SlowDetector(), picture_selector(min_gap_s=0.1), uplink)
    threading.Timer(1.0, pipeline.stop).start()
    try:
        counts = pipeline.run()
    finally:
        sender.close()
        collector.close()
    assert counts.frames_selected >= 2
    assert sender.counts.acknowledged == counts.frames_selected
    assert len(collector.frames()) == counts.frames_selected


class _RecordingSelector:
    """Keeps nothing; remembers each frame's index and boxes in the order the pipeline hands them on."""

    def __init__(self):
        self.seen = []

    def consider(self, frame, detections, track_events=()):
        from edge.selection import Decision

        self.seen.append((frame.index, detections.xyxy.copy(), detections.class_id.copy()))
        return Decision(keep=False, reasons=(), priority=0.0)


class _NullSink:
    def start(self): ...
    def put(self, keyframe): ...
    def finish(self): ...
    def abort(self): ...


def test_two_frames_in_flight_give_the_same_boxes_in_frame_order():
    from edge.detection.runtimes import RuntimeSettings

    two_streams = Detector(MODEL_PATH, threads=2, runtime=RuntimeSettings(streams=2))
    assert two_streams.streams == 2 and "x 2 streams" in two_streams.runtime.description
    selector = _RecordingSelector()
    counts = Pipeline(open_source(str(TUD_CAMPUS), image_fps=25.0), two_streams, selector, _NullSink(),
                      detections_in_flight=2).run()
    assert counts.frames_detected == 71
    assert [index for index, _, _ in selector.seen] == list(range(71))
    one_stream = Detector(MODEL_PATH, threads=1)
    for (index, xyxy, class_id), frame in zip(selector.seen, open_source(str(TUD_CAMPUS), image_fps=25.0)):
        expected = one_stream.detect(frame.image)
        np.testing.assert_allclose(xyxy, expected.xyxy, atol=1e-3)
        assert list(class_id) == list(expected.class_id)
