"""The full selector in the real pipeline (detector, tracker) on real clips, with a sink that only collects."""

from __future__ import annotations

from collections import Counter

import pytest

from edge.detection.runner import Detector
from edge.pipeline import Pipeline
from edge.selection import build_default_selector
from edge.sources import open_source
from tests.conftest import DATA_DIR, MODEL_PATH

VIDEOS = DATA_DIR / "videos"


class CollectingSink:
    """A KeyframeSink that keeps what it is given (the pipeline's other sinks write or send)."""

    def __init__(self):
        self.kept = []
        self.finished = False

    def start(self):
        pass

    def put(self, keyframe):
        self.kept.append(keyframe)

    def finish(self):
        self.finished = True

    def abort(self):
        pass


@pytest.fixture(scope="module")
def detector():
    return Detector(MODEL_PATH, threads=2)


def sample(path, detector, detect_every=1):
    selector = build_default_selector()
    sink = CollectingSink()
    counts = Pipeline(open_source(str(path)), detector, selector, sink, detect_every=detect_every).run()
    assert sink.finished and counts.frames_selected == len(sink.kept) == selector.counts.kept
    return selector, sink.kept, counts


@pytest.mark.slow
@pytest.mark.parametrize("clip, most", [("indoor_people_one_by_one_intel.mp4", 0.025), ("indoor_bottles_hand_intel.mp4", 0.015)])
def test_static_indoor_clips_yield_few_keyframes(detector, clip, most):
    selector, kept, counts = sample(VIDEOS / clip, detector, detect_every=3)
    # Measured: 26 of 1394 (people, one at a time) and 7 of 1189 (a hand moving bottles).
    assert 4 <= len(kept) <= most * counts.frames_read
    reasons = Counter(r for k in kept for r in k.decision.reasons)
    assert reasons["new_tracks"] >= 3  # the visits are what is kept
    assert selector.counts.rejected == Counter()  # clean footage: nothing blamed on quality


@pytest.mark.slow
def test_the_pets09_clip_yields_keyframes_when_people_enter(detector):
    selector, kept, counts = sample(VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4", detector, detect_every=2)
    starts = [k for k in kept if "new_tracks" in k.decision.reasons]
    assert len(starts) >= 10
    shown: set[int] = set()
    for keyframe in kept:
        ids = {int(t) for t in keyframe.detections.tracker_id if t >= 0}
        if "new_tracks" in keyframe.decision.reasons:
            assert ids - shown  # a new_tracks frame shows someone no earlier kept frame showed
        shown |= ids
    # Within the default budget: 12 per minute on average, starting with one frame's worth.
    duration_s = counts.frames_read / 10.0
    assert len(kept) <= 1 + 12 * duration_s / 60
    assert all(0.0 < k.decision.priority <= 1.0 and k.decision.reasons for k in kept)
