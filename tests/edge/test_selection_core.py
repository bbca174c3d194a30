"""Keyframe selection on real footage, plus the combination rules on synthetic time lines.

Most tests here use :func:`picture_only`, the time bounds and scene change alone, so that they
pin down how votes combine; the other policies and the budget have their own test_selection_* files.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.contract.phash import hamming, phash64
from edge.frame_detections import Detections
from edge.selection import (
    ABSTAIN,
    Candidate,
    IntervalPolicy,
    KeptHistory,
    KeyframeSelector,
    SceneChangePolicy,
    Vote,
    build_default_selector,
)
from edge.sources import Frame, open_source
from tests.conftest import DATA_DIR as DATA

VIDEOS = DATA / "videos"
PETS09 = VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
BOTTLES = VIDEOS / "indoor_bottles_hand_intel.mp4"
EMPTY_ROOM = VIDEOS / "indoor_people_one_by_one_intel.mp4"
PARKING = VIDEOS / "parking_lot_overhead_cars_intel.mp4"

NONE = Detections.empty()


def picture_only(min_gap_s: float = 1.0, max_gap_s: float | None = 30.0) -> KeyframeSelector:
    """Time bounds and scene change only: no quality gates, detector triggers or budget."""
    return KeyframeSelector([IntervalPolicy(min_gap_s, max_gap_s), SceneChangePolicy()])


def select(path: Path, selector: KeyframeSelector, until_s: float = float("inf")) -> list[tuple[Frame, tuple]]:
    """(frame, reasons) of every kept frame with source time below ``until_s``."""
    kept = []
    with open_source(path) as source:
        for frame in source:
            if frame.source_ts >= until_s:
                break
            decision = selector.consider(frame, NONE)
            kept += [(r.frame, r.decision.reasons) for r in decision.released]  # a look-ahead selector's
            if decision.keep:
                kept.append((frame, decision.reasons))
    kept += [(r.frame, r.decision.reasons) for r in getattr(selector, "flush", tuple)()]
    return kept


def assert_min_gap(kept: list[tuple[Frame, tuple]], min_gap_s: float) -> None:
    stamps = [frame.source_ts for frame, _ in kept]
    assert all(b - a >= min_gap_s for a, b in zip(stamps, stamps[1:]))


def first_image(path: Path) -> np.ndarray:
    with open_source(path) as source:
        return next(iter(source)).image


def timeline(images: list[np.ndarray], step_s: float) -> list[Frame]:
    return [Frame(i, i * step_s, 0.0, image) for i, image in enumerate(images)]


# --- real footage --------------------------------------------------------------------------------


def test_quiet_stretches_of_real_footage_keep_only_the_first_frame():
    # Measured: nothing changes in the first 6 s of the empty room, and the bottles stand still
    # for 2 s (sensor noise and compression change at most 1.3 % of the thumbnail).
    for path, quiet_s in ((EMPTY_ROOM, 6.0), (BOTTLES, 2.0)):
        kept = select(path, build_default_selector(), until_s=quiet_s)
        assert [(frame.index, reasons) for frame, reasons in kept] == [(0, ("first",))]


@pytest.mark.slow
def test_mostly_static_bottles_clip_keeps_few_frames():
    kept = select(BOTTLES, picture_only())
    # Measured with the defaults: 26 of 1189 frames (39.8 s): the first, then scene changes while
    # a hand moves bottles; a bound with margin, and at least the hand's visits.
    assert 10 <= len(kept) <= 35
    assert Counter(r for _, reasons in kept for r in reasons)["scene_change"] >= 9
    assert_min_gap(kept, 1.0)


def test_busy_pedestrian_scene_keeps_more_than_the_bottles_clip():
    # Over the same 30 s of footage: measured 30 kept on pets09 (people always walking, one per
    # min_gap) against 19 on the bottles (quiet while no hand is in the picture).
    pets = select(PETS09, picture_only(), until_s=30.0)
    bottles = select(BOTTLES, picture_only(), until_s=30.0)
    assert len(pets) >= 25
    assert len(pets) > len(bottles) + 5
    assert_min_gap(pets, 1.0)
    assert_min_gap(bottles, 1.0)


def test_min_gap_is_a_hard_bound_for_every_reason():
    selector = picture_only(min_gap_s=2.5)
    kept = select(PETS09, selector, until_s=20.0)
    assert_min_gap(kept, 2.5)
    assert 5 <= len(kept) <= 9  # a busy scene is kept about once per gap


# --- combination rules ----------------------------------------------------------------------------


def test_black_frames_keep_only_the_first_and_heartbeats():
    black = np.zeros((36, 48, 3), np.uint8)
    frames = timeline([black] * 1000, 0.1)  # 100 s at 10 fps
    selector = picture_only()
    decisions = [(f.index, selector.consider(f, NONE)) for f in frames]
    kept = [(index, d.reasons, d.priority) for index, d in decisions if d.keep]
    assert kept == [
        (0, ("first",), 1.0),
        (300, ("heartbeat",), 0.1),
        (600, ("heartbeat",), 0.1),
        (900, ("heartbeat",), 0.1),
    ]
    assert selector.history.total == 4 and selector.considered == 1000


def test_scene_change_compares_with_several_kept_frames():
    # A view that swings between two real scenes once a second (a door, a pan-tilt patrol).
    street = first_image(PETS09)
    parking = cv2.resize(first_image(PARKING), (480, 360), interpolation=cv2.INTER_AREA)
    frames = timeline([street, parking] * 10, 1.0)

    only_last = KeyframeSelector([IntervalPolicy(1.0, 30.0), SceneChangePolicy(compare_with_last=1)])
    assert sum(only_last.consider(f, NONE).keep for f in frames) == 20

    recent = picture_only()
    kept = [(f.index, d.reasons) for f in frames if (d := recent.consider(f, NONE)).keep]
    assert kept == [(0, ("first",)), (1, ("scene_change",))]


def test_min_gap_vetoes_a_scene_change_and_says_so():
    street = first_image(PETS09)
    parking = cv2.resize(first_image(PARKING), (480, 360), interpolation=cv2.INTER_AREA)
    selector = picture_only()
    assert selector.consider(Frame(0, 0.0, 0.0, street), NONE).keep
    early = selector.consider(Frame(5, 0.5, 0.0, parking), NONE)
    assert (early.keep, early.reasons, early.priority, early.vetoed_by) == (False, (), 0.0, ("min_gap",))
    later = selector.consider(Frame(10, 1.0, 0.0, parking), NONE)
    assert later.keep and later.reasons == ("scene_change",) and 0.5 < later.priority <= 1.0
    quiet = selector.consider(Frame(11, 1.1, 0.0, parking), NONE)
    assert quiet.vetoed_by == ()  # nothing asked to keep it, so nothing was overruled


def test_time_running_backwards_keeps_a_heartbeat_instead_of_stalling():
    black = np.zeros((36, 48, 3), np.uint8)
    selector = picture_only()
    assert selector.consider(Frame(0, 100.0, 0.0, black), NONE).reasons == ("first",)
    assert selector.consider(Frame(1, 0.0, 0.0, black), NONE).reasons == ("heartbeat",)
    assert not selector.consider(Frame(2, 0.5, 0.0, black), NONE).keep


class PersonPolicy:
    """An extra policy as a later stage would add one: keep frames that show a person."""

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        if np.any(candidate.detections.class_id == 0):
            return Vote.keep("person", 0.7)
        return ABSTAIN


def test_new_policies_plug_in_and_obey_the_min_gap():
    black = np.zeros((36, 48, 3), np.uint8)
    person = Detections.from_arrays([[1, 1, 10, 20]], [0.9], [0])
    selector = KeyframeSelector([IntervalPolicy(1.0, None), SceneChangePolicy(), PersonPolicy()])
    first = selector.consider(Frame(0, 0.0, 0.0, black), person)
    assert first.reasons == ("first", "person") and first.priority == 1.0
    assert selector.consider(Frame(1, 0.4, 0.0, black), person).vetoed_by == ("min_gap",)
    assert not selector.consider(Frame(2, 1.5, 0.0, black), NONE).keep  # no heartbeats: max_gap None
    later = selector.consider(Frame(3, 1.6, 0.0, black), person)
    assert later.keep and later.reasons == ("person",) and later.priority == 0.7


def test_history_keeps_thumbnails_that_hash_like_the_frame():
    image = first_image(PETS09)
    selector = picture_only()
    selector.consider(Frame(0, 0.0, 0.0, image), NONE)
    kept = selector.history.last
    assert kept.index == 0 and kept.reasons == ("first",) and kept.thumbnail.shape == (32, 32)
    # Made from the analysis image rather than the frame: within a bit or two of the frame's hash.
    assert hamming(phash64(kept.thumbnail), phash64(image)) <= 2 and kept.phash == phash64(kept.thumbnail)


def test_history_is_bounded():
    black = np.zeros((8, 8, 3), np.uint8)
    selector = KeyframeSelector([IntervalPolicy(min_gap_s=0.0, max_gap_s=0.5)])
    for frame in timeline([black] * 200, 1.0):
        selector.consider(frame, NONE)
    assert selector.history.total == 200 and len(selector.history) == 64
    assert [k.index for k in selector.history.recent(2)] == [199, 198]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: IntervalPolicy(min_gap_s=-1), "min_gap_s"),
        (lambda: IntervalPolicy(min_gap_s=5, max_gap_s=2), "max_gap_s"),
        (lambda: SceneChangePolicy(threshold=1.5), "threshold"),
        (lambda: SceneChangePolicy(compare_with_last=0), "compare_with_last"),
        (lambda: SceneChangePolicy(pixel_delta=300), "pixel_delta"),
        (lambda: KeyframeSelector([]), "at least one"),
        (lambda: build_default_selector(min_gap_s=-1), r"selection\.interval\.min_gap_s = -1: expected seconds >= 0"),
    ],
)
def test_bad_settings_are_config_errors(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_the_default_selector_rejects_black_frames_it_would_otherwise_send_as_heartbeats():
    black = np.zeros((36, 48, 3), np.uint8)
    selector = build_default_selector()
    decisions = [selector.consider(f, NONE) for f in timeline([black] * 400, 0.1)]
    assert not any(d.keep for d in decisions)
    assert all(d.rejected_for == ("black",) for d in decisions)
    assert selector.counts.rejected == Counter(black=400)
    # Nothing was ever kept, so every frame asked to be the first one, and the gate said no.
    assert selector.counts.overruled == Counter(black=400) and selector.history.total == 0
