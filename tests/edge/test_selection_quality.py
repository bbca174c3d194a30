"""Quality gates on real footage: copies of the pets09 clip spoiled with OpenCV are rejected for the right flaw."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import cv2
import numpy as np
import pytest

from edge.frame_detections import Detections
from edge.selection import BlurGate, ExposureGate, FrozenGate, ObstructionGate, build_default_selector
from edge.sources import Frame, open_source
from tests.conftest import DATA_DIR

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
NONE = Detections.empty()
SPOILED = range(100, 160)
"""Frames 10-16 s of the clip are spoiled; the 10 s before let the gates learn the scene."""


@pytest.fixture(scope="module")
def pets09_frames() -> list[Frame]:
    with open_source(PETS09) as source:
        return [frame for frame, _ in zip(source, range(220))]


def blurred(image):
    return cv2.GaussianBlur(image, (0, 0), 3)


def blacked_out(image):
    black = np.zeros_like(image)
    # A time stamp burned in by the camera must not save a black frame.
    cv2.putText(black, "2024-05-01 12:00:00", (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return black


def obstructed(image):
    # A finger over the lower left of the lens: dark, smooth, out of focus.
    covered = image.copy()
    cv2.ellipse(covered, (60, 300), (260, 190), 0, 0, 360, (40, 35, 50), -1)
    return covered


def overexposed(image):
    return cv2.add(image, np.full_like(image, 150))


def spoil(frames: list[Frame], damage) -> list[Frame]:
    return [Frame(f.index, f.source_ts, f.capture_ts, damage(f.image) if f.index in SPOILED else f.image) for f in frames]


def run(selector, frames):
    """(index, decision) per frame, ``keep`` set on the frames a look-ahead selector kept later."""
    decisions, kept = [], set()
    for frame in frames:
        decision = selector.consider(frame, NONE)
        decisions.append((frame.index, decision))
        kept |= {r.frame.index for r in decision.released} | ({frame.index} if decision.keep else set())
    kept |= {r.frame.index for r in getattr(selector, "flush", tuple)()}
    return [(index, replace(decision, keep=index in kept)) for index, decision in decisions]


@pytest.mark.parametrize("damage, flaw", [(blurred, "blur"), (blacked_out, "black"), (obstructed, "obstructed"),
                                          (overexposed, "overexposed")])
def test_a_spoiled_stretch_of_a_real_clip_is_rejected_for_the_right_flaw(pets09_frames, damage, flaw):
    selector = build_default_selector()
    decisions = run(selector, spoil(pets09_frames, damage))
    flagged = [index for index, d in decisions if flaw in d.rejected_for]
    inside = [index for index in flagged if index in SPOILED]
    assert len(inside) >= 0.9 * len(SPOILED)  # the gates may need a frame or two at the edges
    assert all(index in SPOILED for index in flagged)  # and never blame a good frame
    assert not any(d.keep for index, d in decisions if index in SPOILED and d.rejected_for)
    assert selector.counts.rejected[flaw] == len(flagged)
    kept_outside = [index for index, d in decisions if d.keep and index not in SPOILED]
    assert kept_outside  # the clean frames around the stretch still get through


def test_the_clean_clip_has_no_flaws(pets09_frames):
    selector = build_default_selector()
    decisions = run(selector, pets09_frames)
    assert selector.counts.rejected == Counter()
    assert all(d.rejected_for == () for _, d in decisions)


def test_a_stuck_picture_is_frozen_after_the_configured_seconds(pets09_frames):
    gate = FrozenGate(seconds=2.0)
    stuck = pets09_frames[100].image
    frames = [Frame(f.index, f.source_ts, 0.0, stuck if f.index >= 100 else f.image) for f in pets09_frames]
    selector = build_default_selector()
    selector.policies = (*selector.policies[:1], gate)  # the interval policy and the gate alone
    flagged = [index for index, d in run(selector, frames) if "frozen" in d.rejected_for]
    # Still from frame 100 (10.0 s) on: frozen from 12.0 s, i.e. frame 120, to the end.
    assert flagged == list(range(120, 220))


def test_blur_is_judged_against_the_scene_so_a_scene_that_stays_blurred_is_accepted_in_time(pets09_frames):
    gate = BlurGate(adapt_s=2.0)  # a short memory, so the 6 s of blur become the scene
    frames = spoil(pets09_frames, blurred)
    flagged = [f.index for f in frames if gate.vote(_candidate(f), None).veto == "blur"]
    # Sharpness falls to ~0.13 of the level; the level follows with a 2 s half-life, so the ratio
    # is back above 0.5 after about 1.5 half-lives (3 s), long before the blur ends at 16 s.
    assert flagged == list(range(100, flagged[-1] + 1)) and 120 <= flagged[-1] < 140


def _candidate(frame):
    from edge.selection import Candidate

    return Candidate(frame, NONE)


@pytest.mark.parametrize("build, key", [
    (lambda: BlurGate(min_relative_sharpness=1.5), "min_relative_sharpness = 1.5: expected a ratio in (0, 1)"),
    (lambda: ExposureGate(black_level=300), "black_level = 300"),
    (lambda: FrozenGate(seconds=0), "seconds = 0: expected seconds > 0"),
    (lambda: ObstructionGate(relative_contrast=2.0), "relative_contrast = 2.0"),
])
def test_bad_gate_settings_name_the_setting(build, key):
    from edge.contract.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")):
        build()
