"""The tracker as a whole: id stability, lifecycle events, prediction between detections, errors."""

import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.tracking import ByteTracker, TrackEventKind
from tests.edge.tracking.helpers import boxes, walker

STARTED, CONFIRMED, LOST, RECOVERED, ENDED = (
    TrackEventKind.STARTED, TrackEventKind.CONFIRMED, TrackEventKind.LOST, TrackEventKind.RECOVERED, TrackEventKind.ENDED,
)


def ids_by_x(update) -> dict:
    """Track id of each box, keyed by the box's left edge rounded to the pixel."""
    return {round(float(x)): int(i) for x, i in zip(update.detections.xyxy[:, 0], update.detections.tracker_id)}


def test_ids_survive_a_short_occlusion_when_two_people_cross():
    # A walks right, B walks left; while they overlap, B is behind A and not detected (7 frames).
    tracker = ByteTracker()
    seen = {}
    hidden_frames = 0
    for frame in range(40):
        a, b = 100 + 8 * frame, 420 - 8 * frame
        if abs(a - b) < 60:
            hidden_frames += 1
            update = tracker.update(boxes(walker(a)))
        else:
            update = tracker.update(boxes(walker(a), walker(b)))
        for x, track_id in ids_by_x(update).items():
            seen.setdefault("A" if x == a else "B", set()).add(track_id)
    assert hidden_frames == 7
    assert seen == {"A": {1}, "B": {2}}


def test_each_tracker_owns_its_ids():
    first, second = ByteTracker(), ByteTracker()
    assert list(first.update(boxes(walker(0), walker(200))).detections.tracker_id) == [1, 2]
    assert list(second.update(boxes(walker(0))).detections.tracker_id) == [1]
    assert list(first.update(boxes(walker(2), walker(202), walker(400))).detections.tracker_id) == [1, 2, NO_TRACK]


def test_ids_start_where_the_agent_says():
    tracker = ByteTracker(first_track_id=501)
    assert list(tracker.update(boxes(walker(0), walker(200))).detections.tracker_id) == [501, 502]
    for bad in (0, -3, 1.5, True):
        with pytest.raises(ConfigError, match="first_track_id"):
            ByteTracker(first_track_id=bad)


def test_lifecycle_events_of_one_object():
    tracker = ByteTracker(lost_track_buffer_frames=3)
    kinds = []
    for frame, present in enumerate([False, True, True, True, False, False, True, False, False, False, False]):
        update = tracker.update(boxes(walker(100 + frame)) if present else boxes())
        kinds.append([e.kind for e in update.events])
    assert kinds == [[], [STARTED], [CONFIRMED], [], [LOST], [], [RECOVERED], [LOST], [], [], [ENDED]]
    assert len(tracker.tracks) == 0


def test_events_describe_the_track():
    tracker = ByteTracker()
    tracker.update(boxes())
    tracker.update(boxes(walker(100), score=0.8))
    (event,) = tracker.update(boxes(walker(104), score=0.85)).events
    assert event.kind is CONFIRMED and event.track_id == 1 and event.class_id == 0
    assert event.xyxy == walker(104) and event.score == pytest.approx(0.85) and event.age_frames == 1
    assert event.confirmed


def test_a_tentative_track_that_misses_once_ends_unconfirmed():
    tracker = ByteTracker()
    tracker.update(boxes())
    tracker.update(boxes(walker(100)))
    (event,) = tracker.update(boxes()).events
    assert event.kind is ENDED and not event.confirmed


def test_between_detections_the_tracker_predicts_without_changing():
    tracker = ByteTracker()
    for frame in range(10):
        tracker.update(boxes(walker(100 + 5 * frame)))
    state = tracker.tracks.copy()
    predicted = tracker.update(None, frames_since_last_update=2)
    assert list(predicted.detections.tracker_id) == [1] and not predicted.events
    assert predicted.detections.xyxy[0, 0] == pytest.approx(100 + 5 * 11, abs=1.5)
    np.testing.assert_array_equal(tracker.tracks.mean, state.mean)
    # The next real update is given the whole gap and follows on.
    update = tracker.update(boxes(walker(100 + 5 * 12)), frames_since_last_update=3)
    assert list(update.detections.tracker_id) == [1]


def test_the_detections_given_are_not_changed():
    detections = boxes(walker(10), walker(300))
    before = detections.tracker_id.copy()
    ByteTracker().update(detections)
    np.testing.assert_array_equal(detections.tracker_id, before)


def test_bad_input_is_refused_with_a_clear_error():
    tracker = ByteTracker()
    nan_box = Detections.from_arrays([[0, 0, np.nan, 10]], [0.9], [0])
    with pytest.raises(ValueError, match="finite"):
        tracker.update(nan_box)
    with pytest.raises(ValueError, match="frames_since_last_update"):
        tracker.update(boxes(), frames_since_last_update=0)
    with pytest.raises(ValueError, match="frames_since_last_update"):
        tracker.update(boxes(), frames_since_last_update=1.5)


@pytest.mark.parametrize(
    "settings, name",
    [
        ({"high_score_threshold": 1.5}, "high_score_threshold"),
        ({"low_score_threshold": 0.6, "high_score_threshold": 0.5}, "low_score_threshold"),
        ({"min_iou_high_score": 0.0}, "min_iou_high_score"),
        ({"updates_to_confirm": 0}, "updates_to_confirm"),
        ({"lost_track_buffer_frames": -1}, "lost_track_buffer_frames"),
    ],
)
def test_settings_are_checked(settings, name):
    with pytest.raises(ConfigError, match=name):
        ByteTracker(**settings)


def test_a_lost_track_is_ended_as_a_duplicate_when_a_later_track_takes_its_place():
    tracker = ByteTracker(lost_track_buffer_frames=60)
    ended_at = None
    for frame in range(30):
        present = [walker(100)] if frame < 3 else []  # track 1: seen three times, then gone
        if frame >= 3:
            present.append(walker(160 - 4 * (frame - 3)))  # track 2: walks onto track 1's place
        events = tracker.update(boxes(*present)).events
        if any(e.kind is ENDED and e.track_id == 1 for e in events):
            ended_at = frame
    assert ended_at is not None and ended_at < 25  # long before its buffer of 60 frames ran out
    assert list(tracker.tracks.track_id) == [2]
