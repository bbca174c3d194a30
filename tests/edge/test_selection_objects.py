"""Detector-driven triggers on hand-made boxes: each rule, and that it fires once per situation."""

from __future__ import annotations

import numpy as np

from edge.frame_detections import Detections
from edge.selection import (
    ClassRarityPolicy,
    IntervalPolicy,
    KeyframeSelector,
    ObjectCountPolicy,
    TrackEventPolicy,
    UncertaintyPolicy,
)
from edge.sources import Frame
from edge.tracking import TrackEvent, TrackEventKind

IMAGE = np.full((48, 64, 3), 90, np.uint8)


def boxes(*rows) -> Detections:
    """Rows of (x1, score, class, track id); boxes 10 px wide, one per row."""
    if not rows:
        return Detections.empty()
    return Detections.from_arrays([[x, 5, x + 10, 30] for x, *_ in rows], [r[1] for r in rows],
                                  [r[2] for r in rows], [r[3] for r in rows])


def run(policy, frames, min_gap_s=0.0):
    """Feed (time, detections, events) triples; return (index, reasons) of the kept frames."""
    selector = KeyframeSelector([IntervalPolicy(min_gap_s, None), policy])
    kept = []
    for index, (ts, detections, events) in enumerate(frames):
        decision = selector.consider(Frame(index, ts, 0.0, IMAGE), detections, events)
        if decision.keep:
            kept.append((index, decision.reasons, round(decision.priority, 3)))
    return kept


def ended(track_id, confirmed=True):
    return TrackEvent(TrackEventKind.ENDED, track_id, 0, (0, 0, 1, 1), 0.9, 40, confirmed)


def test_a_new_track_is_kept_once_and_stays_armed_through_the_minimum_gap():
    one, two = boxes((0, 0.9, 0, 1)), boxes((0, 0.9, 0, 1), (20, 0.9, 0, 2))
    frames = [(0.0, one, ()), (0.5, one, ()), (0.6, two, ()), (0.9, two, ()), (1.2, two, ()), (1.4, two, ())]
    kept = run(TrackEventPolicy(), frames, min_gap_s=1.0)
    # Track 2 appears at 0.6 s, inside the minimum gap; it is caught at the first frame allowed.
    assert kept == [(0, ("first", "track_start"), 1.0), (4, ("track_start",), 0.8)]


def test_several_new_tracks_at_once_rank_higher_and_ended_tracks_are_kept_at_low_priority():
    many = boxes((0, 0.9, 0, 1), (20, 0.9, 0, 2), (40, 0.9, 0, 3))
    frames = [(0.0, Detections.empty(), ()), (1.0, many, ()), (2.0, many, ()), (3.0, Detections.empty(), (ended(1),)),
              (4.0, Detections.empty(), (ended(4, confirmed=False),))]
    kept = run(TrackEventPolicy(), frames)
    assert kept == [(0, ("first",), 1.0), (1, ("track_start",), round(1 - 0.2 / 3, 3)), (3, ("track_end",), 0.4)]


def test_a_new_class_then_a_rare_one_then_nothing():
    person, dog, weak_dog = (0, 0.9, 0, -1), (20, 0.8, 16, -1), (20, 0.2, 16, -1)
    # A heartbeat every second keeps every frame, so the history fills with person-only frames.
    selector = KeyframeSelector([IntervalPolicy(0.0, 0.5), ClassRarityPolicy(rare_fraction=0.1)])
    shown = [boxes(person)] * 25 + [boxes(person, dog), boxes(person, dog), boxes(person, dog), boxes(person, weak_dog)]
    reasons = [selector.consider(Frame(i, float(i), 0.0, IMAGE), d).reasons for i, d in enumerate(shown)]
    assert reasons[25:] == [("heartbeat", "new_class"), ("heartbeat", "rare_class"), ("heartbeat", "rare_class"),
                            ("heartbeat",)]
    # Three of the last 28 kept frames show a dog: above 10 %, no longer rare.
    assert selector.consider(Frame(29, 29.0, 0.0, IMAGE), boxes(person, dog)).reasons == ("heartbeat",)


def test_uncertain_boxes_are_kept_once_where_they_stand():
    sure, unsure = (0, 0.9, 0, -1), (30, 0.35, 0, -1)
    frames = [(0.0, boxes(sure), ()), (1.0, boxes(sure, unsure), ()), (2.0, boxes(sure, unsure), ()),
              (3.0, boxes(sure, (5, 0.4, 0, -1)), ())]
    kept = run(UncertaintyPolicy(), frames)
    # The second frame with the same hesitant box at the same place is not sent again; a new one is.
    assert kept == [(0, ("first",), 1.0), (1, ("uncertain",), 0.45), (3, ("uncertain",), 0.45)]


def test_a_count_change_must_hold_before_it_counts():
    one, two = boxes((0, 0.9, 0, -1)), boxes((0, 0.9, 0, -1), (20, 0.9, 0, -1))
    flicker = [one, two, one, one, one, one, one, one]
    stable = [two] * 5
    frames = [(i * 0.1, d, ()) for i, d in enumerate(flicker + stable)]
    kept = run(ObjectCountPolicy(stable_frames=3), frames)
    assert kept == [(0, ("first",), 1.0), (10, ("count_change",), 0.5)]
