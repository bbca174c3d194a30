"""The pipeline with a detector swapped mid-stream: every kept frame names the model that really
labeled it (or, between detections, the one whose boxes the tracker carried on), with two
frames in detection at once and the detector running on every second frame only."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge.frame_detections import Detections
from edge.pipeline import Camera, Pipeline
from edge.rollout.live import ModelSlot
from edge.selection import Decision
from edge.sources import Frame, FrameSource

FRAMES = 240


class _NumberedFrames(FrameSource):
    """A file-like source whose frames carry their index in their first pixel."""

    fps = 25.0
    is_live = False
    description = "numbered frames"

    def __iter__(self):
        for index in range(FRAMES):
            image = np.zeros((48, 64, 3), np.uint8)
            image[0, 0, :2] = divmod(index, 256)
            yield Frame(index, index / 25.0, 0.0, image)

    def close(self):
        pass


class _Recorder:
    """A detector stand-in (the pipeline and the swap are under test): one box, and a log of the
    frames it ran on, read back from their first pixel."""

    def __init__(self, name: str):
        self.deployed_id = f"{name}-00000000@test"
        self.class_names = ("thing",)
        self.ran_on: set[int] = set()
        self._lock = threading.Lock()

    def detect_many(self, images):
        with self._lock:
            self.ran_on.update(int(image[0, 0, 0]) * 256 + int(image[0, 0, 1]) for image in images)
        return [Detections.from_arrays([[10, 10, 30, 30]], [0.9], [0]) for _ in images]


class _KeepAll:
    def consider(self, frame, detections, track_events=()):
        return Decision(keep=True, reasons=("test",), priority=0.5)


class _SwappingSink:
    """Records each kept frame's model; swaps the slot's model when frame ``at`` is kept."""

    def __init__(self, slot: ModelSlot, new, at: int):
        self.slot, self.new, self.at = slot, new, at
        self.kept: list[tuple[int, str]] = []

    def start(self): ...
    def finish(self): ...
    def abort(self): ...

    def put(self, keyframe):
        self.kept.append((keyframe.frame.index, keyframe.model.model_id))
        if keyframe.frame.index == self.at:
            self.slot.swap(self.new)


@pytest.mark.parametrize("detect_every", [1, 2])
def test_each_kept_frame_names_the_model_that_labeled_it(detect_every):
    old, new = _Recorder("old"), _Recorder("new")
    slot = ModelSlot(old)
    sink = _SwappingSink(slot, new, at=FRAMES // 3)
    camera = Camera("cam", _NumberedFrames(), _KeepAll(), detect_every=detect_every)
    counts = Pipeline.for_cameras([camera], slot.detector_for(lambda d: d), sink, detections_in_flight=2).run()
    assert counts.frames_selected == FRAMES and [index for index, _ in sink.kept] == list(range(FRAMES))
    assert old.ran_on and new.ran_on and not old.ran_on & new.ran_on
    for index, model_id in sink.kept:
        detected_at = index - index % detect_every  # the last frame the detector ran on
        expected = old if detected_at in old.ran_on else new
        assert detected_at in expected.ran_on and model_id == expected.deployed_id, index
    # Once the new model has labeled a frame, the old one labels none after it.
    assert max(old.ran_on) < min(new.ran_on)
