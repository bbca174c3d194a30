"""The budget: token buckets that are never overdrawn, and low-priority frames dropped first."""

from __future__ import annotations

import numpy as np
import pytest

from edge.contract.errors import ConfigError
from edge.frame_detections import Detections
from edge.jpeg import encode_jpeg
from edge.selection import (
    ABSTAIN,
    Candidate,
    IntervalPolicy,
    KeptHistory,
    KeyframeBudget,
    KeyframeSelector,
    SceneChangePolicy,
    TokenBucket,
    Vote,
)
from edge.sources import Frame, open_source
from tests.conftest import DATA_DIR

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
NONE = Detections.empty()


def test_the_bar_rises_as_the_bucket_empties():
    bucket = TokenBucket(rate_per_s=1.0, capacity=5.0, tokens=5.0)
    assert bucket.bar(1.0, reserve=2.0) == 0.0  # two frames to spare after this one: anything goes
    bucket.take(2.0)
    assert bucket.bar(1.0, reserve=2.0) == 0.0
    bucket.take(1.0)
    assert bucket.bar(1.0, reserve=2.0) == pytest.approx(0.5)
    bucket.take(1.0)
    assert bucket.bar(1.0, reserve=2.0) == pytest.approx(1.0)  # the last token: priority 1 only
    assert bucket.bar(1.0, reserve=0.0) == 0.0  # no ranking: first come, first served
    bucket.take(0.5)
    assert bucket.bar(1.0, reserve=2.0) == float("inf")  # cannot be paid at all
    bucket.refill(0.0)
    bucket.refill(10.0)
    assert bucket.tokens == 5.0  # never above capacity
    bucket.refill(3.0)  # time going back adds nothing
    assert bucket.tokens == 5.0


def test_on_a_busy_real_clip_neither_bucket_is_ever_overdrawn():
    # Scene change asks on most frames of pets09 (people always walking): the budget decides.
    # About 38 KB per frame: 10 MB/h is one frame per ~14 s, so the bytes bucket binds before the frames one.
    rate_per_min, megabytes_per_hour, window_s = 6.0, 10.0, 30.0
    budget = KeyframeBudget(rate_per_min, megabytes_per_hour, window_s, jpeg_quality=85)
    selector = KeyframeSelector([IntervalPolicy(0.0, None), SceneChangePolicy(threshold=0.0)], budget)
    kept = []
    with open_source(PETS09) as source:
        for frame in source:
            if selector.consider(frame, NONE).keep:
                kept.append((frame.source_ts, len(encode_jpeg(frame.image, 85))))
    assert selector.counts.overruled["budget_frames"] + selector.counts.overruled["budget_bytes"] > 500
    frames_rate, bytes_rate = rate_per_min / 60, megabytes_per_hour * 1e6 / 3600
    frames_capacity, bytes_capacity = frames_rate * window_s, bytes_rate * window_s
    stamps = np.array([ts for ts, _ in kept])
    sizes = np.cumsum([0] + [size for _, size in kept])
    for i in range(len(kept)):
        for j in range(i, len(kept)):
            elapsed = stamps[j] - stamps[i]
            # Token-bucket guarantee, starting with one frame's worth: at most capacity + rate * elapsed.
            assert j - i + 1 <= frames_capacity + frames_rate * elapsed + 1e-9
            assert sizes[j + 1] - sizes[i] <= bytes_capacity + bytes_rate * elapsed + 1e-6
    # The first window holds no more than one frame's worth plus what trickled in.
    assert sum(ts <= 10.0 for ts, _ in kept) <= 1 + frames_rate * 10.0
    assert len(kept) >= 5  # and the budget is used, not starved (79.5 s of ~14 s per frame)
    assert selector.counts.overruled["budget_bytes"] > 0


class EveryFrame:
    """Asks to keep every frame: odd frames at high priority, even ones at low."""

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        high = candidate.frame.index % 2 == 1
        return Vote.keep("high" if high else "low", 0.9 if high else 0.2)


def test_under_pressure_low_priority_frames_are_dropped_first():
    image = np.zeros((8, 8, 3), np.uint8)
    budget = KeyframeBudget(keyframes_per_minute=60.0, megabytes_per_hour=0.0, window_s=10.0)
    selector = KeyframeSelector([EveryFrame()], budget)
    decisions = [selector.consider(Frame(i, i * 0.1, 0.0, image), NONE) for i in range(3000)]  # 5 min at 10 fps
    kept = [d.reasons[0] for d in decisions if d.keep]
    assert 290 <= len(kept) <= 311  # 60 per minute, plus the first frame and at most a window
    assert kept.count("high") >= 0.95 * len(kept)
    dropped = [d.vetoed_by for d in decisions if not d.keep]
    assert set(dropped) == {("budget_frames",)}


def test_a_quiet_scene_fills_the_bucket_and_then_anything_goes():
    image = np.zeros((8, 8, 3), np.uint8)

    class Rarely:
        def vote(self, candidate, history):
            return Vote.keep("heartbeat", 0.1) if candidate.frame.index % 100 == 0 else ABSTAIN

    budget = KeyframeBudget(keyframes_per_minute=6.0, megabytes_per_hour=0.0, window_s=60.0)
    selector = KeyframeSelector([Rarely()], budget)
    kept = [i for i in range(2000) if selector.consider(Frame(i, i * 0.1, 0.0, image), NONE).keep]
    # Once the bucket is nearly full (after ~50 s), a priority-0.1 frame every 10 s goes through.
    assert kept[-5:] == [1600, 1700, 1800, 1900] or kept[-4:] == [1600, 1700, 1800, 1900]
    assert all(i % 100 == 0 for i in kept)


@pytest.mark.parametrize("kwargs, message", [
    ({"keyframes_per_minute": -1}, "keyframes_per_minute = -1: expected frames >= 0"),
    ({"megabytes_per_hour": float("nan")}, "megabytes_per_hour = nan"),
    ({"window_s": 0}, "window_s = 0: expected seconds > 0"),
    ({"jpeg_quality": 0}, "jpeg_quality = 0"),
])
def test_bad_budget_settings_name_the_setting(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        KeyframeBudget(**kwargs)


def test_a_kept_frame_is_encoded_once_the_budget_measures_what_the_uplink_sends():
    from edge.uplink import Keyframe

    budget = KeyframeBudget(60.0, 100.0, 60.0, jpeg_quality=85)
    selector = KeyframeSelector([IntervalPolicy(0.0, None)], budget)
    with open_source(PETS09) as source:
        frame = next(iter(source))
    decision = selector.consider(frame, NONE)
    assert decision.keep and budget.encodes == 1
    keyframe = Keyframe(frame, NONE, decision)
    assert keyframe.jpeg(85) is decision.jpegs[85]  # reused, not encoded again
    assert keyframe.jpeg(85) == encode_jpeg(frame.image, 85)
    assert keyframe.jpeg(60) == encode_jpeg(frame.image, 60)  # another quality is encoded afresh
