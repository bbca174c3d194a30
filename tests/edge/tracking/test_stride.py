"""Detector on every k-th frame, tracker on every frame."""

import time

import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.sources import Frame
from edge.tracking import ByteTracker, StridedTracker
from tests.edge.tracking.helpers import boxes, walker

IMAGE = np.zeros((240, 320, 3), np.uint8)


def frame(index: int) -> Frame:
    return Frame(index, index / 25.0, time.time(), IMAGE)


class RecordingTracker:
    """Records what the strided tracker hands to the real tracker it wraps."""

    def __init__(self):
        self.tracker = ByteTracker()
        self.calls = []

    def update(self, detections, frames_since_last_update=1):
        self.calls.append((detections is not None, frames_since_last_update))
        return self.tracker.update(detections, frames_since_last_update)


def test_the_detector_runs_on_every_kth_frame_and_the_gap_reaches_the_tracker():
    recording = RecordingTracker()
    tracking = StridedTracker(recording, detect_every=3)
    detected = []
    for index in range(8):
        wanted = tracking.needs_detection(frame(index))
        detected.append(wanted)
        tracking.step(frame(index), boxes(walker(10 + index)) if wanted else None)
    assert detected == [True, False, False, True, False, False, True, False]
    assert recording.calls == [(True, 1), (False, 1), (False, 2), (True, 3), (False, 1), (False, 2), (True, 3),
                               (False, 1)]


def test_frames_a_source_dropped_count_as_time_passed():
    recording = RecordingTracker()
    tracking = StridedTracker(recording, detect_every=2)
    for index in (0, 5, 6, 7):  # frames 1-4 were dropped by a live source
        tracking.step(frame(index), boxes() if tracking.needs_detection(frame(index)) else None)
    assert recording.calls == [(True, 1), (True, 5), (False, 1), (True, 2)]


def test_predicted_boxes_are_clipped_to_the_frame_and_dropped_once_outside():
    tracking = StridedTracker(ByteTracker(), detect_every=100)
    for index in range(10):  # learn a walk to the right at 10 px per frame, towards x = 320
        tracking.tracker.update(boxes(walker(170 + 10 * index)))
    tracking.step(frame(9), boxes(walker(260)))
    near_edge = tracking.step(frame(11), None).detections  # predicted at x 280..330
    assert list(near_edge.tracker_id) == [1]
    assert near_edge.xyxy[0, 2] == 320 and near_edge.xyxy[0, 0] == pytest.approx(280, abs=3)
    assert len(tracking.step(frame(16), None).detections) == 0  # predicted at x 330..380


def test_detect_every_must_be_a_positive_integer():
    with pytest.raises(ConfigError, match="detect_every"):
        StridedTracker(ByteTracker(), detect_every=0)
