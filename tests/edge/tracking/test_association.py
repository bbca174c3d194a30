"""Association: IoU costs, the gated assignment, and each ByteTrack stage inside the tracker."""

import numpy as np

from edge.tracking import ByteTracker, TrackEventKind
from edge.tracking.association import FORBIDDEN, iou_cost, match, weight_by_score
from tests.edge.tracking.helpers import CAR, PERSON, boxes, walker


def test_cost_is_one_minus_iou_and_forbidden_across_classes():
    tracks = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    detections = np.array([[5.0, 0.0, 15.0, 10.0]])
    cost = iou_cost(tracks, np.array([PERSON, CAR]), detections, np.array([PERSON]))
    np.testing.assert_allclose(cost[0], [1 - 50 / 150])
    assert cost[1, 0] == FORBIDDEN


def test_score_weighting_prefers_the_confident_box_and_keeps_forbidden_pairs_forbidden():
    cost = np.array([[0.2, 0.2, FORBIDDEN]])
    weighted = weight_by_score(cost, np.array([0.9, 0.5, 1.0]))
    np.testing.assert_allclose(weighted[0, :2], [1 - 0.8 * 0.9, 1 - 0.8 * 0.5])
    assert weighted[0, 2] == FORBIDDEN


def test_match_keeps_only_pairs_inside_the_gate():
    cost = np.array([[0.1, 0.9], [0.95, 0.3]])
    found = match(cost, max_cost=0.5)
    assert list(zip(found.rows, found.cols)) == [(0, 0), (1, 1)]
    found = match(cost, max_cost=0.2)
    assert list(zip(found.rows, found.cols)) == [(0, 0)]
    assert list(found.unmatched_rows) == [1] and list(found.unmatched_cols) == [1]


def test_one_good_match_beats_two_poor_ones():
    # Row 0 fits column 0 well; taking column 1 instead would let row 1 match column 0, poorly.
    cost = np.array([[0.1, 0.7], [0.7, FORBIDDEN]])
    found = match(cost, max_cost=0.8)
    assert list(zip(found.rows, found.cols)) == [(0, 0)]


def test_match_of_an_empty_block():
    found = match(np.zeros((0, 3)), 0.5)
    assert len(found.rows) == 0 and list(found.unmatched_cols) == [0, 1, 2]


def confirmed_tracker(*xyxy, **settings) -> ByteTracker:
    tracker = ByteTracker(**settings)
    tracker.update(boxes(*xyxy))  # the first update confirms at once
    return tracker


def test_second_stage_a_weak_box_on_a_tracked_object_keeps_its_id():
    tracker = confirmed_tracker(walker(100))
    update = tracker.update(boxes(walker(102), score=0.3))
    assert list(update.detections.tracker_id) == [1]
    assert not update.events


def test_a_weak_box_alone_neither_starts_a_track_nor_recovers_a_lost_one():
    tracker = confirmed_tracker(walker(100))
    lost = tracker.update(boxes(walker(400), score=0.3))
    assert [e.kind for e in lost.events] == [TrackEventKind.LOST]
    assert list(lost.detections.tracker_id) == [-1]
    again = tracker.update(boxes(walker(101), score=0.3))  # where the lost track is, but weak
    assert list(again.detections.tracker_id) == [-1] and not again.events


def test_a_weak_box_must_overlap_more_than_a_confident_one():
    tracker = confirmed_tracker(walker(100))
    # IoU of a 50-wide box shifted by 20 px: 30 / 70 = 0.43, below the weak-box gate of 0.5.
    assert list(tracker.update(boxes(walker(120), score=0.3)).detections.tracker_id) == [-1]
    tracker = confirmed_tracker(walker(100))
    assert list(tracker.update(boxes(walker(120), score=0.9)).detections.tracker_id) == [1]


def test_a_tentative_track_is_confirmed_by_its_second_match_and_only_then_carries_an_id():
    tracker = ByteTracker()
    tracker.update(boxes())
    first = tracker.update(boxes(walker(100)))
    assert list(first.detections.tracker_id) == [-1]
    assert [e.kind for e in first.events] == [TrackEventKind.STARTED]
    second = tracker.update(boxes(walker(104)))
    assert list(second.detections.tracker_id) == [1]
    assert [e.kind for e in second.events] == [TrackEventKind.CONFIRMED]


def test_a_detection_below_the_new_track_score_starts_nothing():
    tracker = ByteTracker(new_track_score_threshold=0.7)
    tracker.update(boxes())
    assert not tracker.update(boxes(walker(100), score=0.6)).events
    assert len(tracker.tracks) == 0


def test_classes_never_match_each_other():
    tracker = confirmed_tracker(walker(100))
    update = tracker.update(boxes(walker(100), class_id=CAR))
    assert list(update.detections.tracker_id) == [-1]
    assert {e.kind for e in update.events} == {TrackEventKind.LOST, TrackEventKind.STARTED}


def test_a_tracked_track_gets_a_contested_box_before_a_lost_one():
    # Two people side by side; the left one (track 1) is hidden for a frame and so lost. The next
    # box lies between them, a little closer to the lost track's place (IoU 0.85 against 0.72):
    # the track seen a frame ago takes it (tracked before lost), not the lost one.
    tracker = confirmed_tracker(walker(100), walker(112))
    tracker.update(boxes(walker(112)))
    update = tracker.update(boxes(walker(104)))
    assert list(update.detections.tracker_id) == [2]
