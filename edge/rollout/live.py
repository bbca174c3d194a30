"""The detector the pipeline runs, swappable between two frames.

The pipeline asks :meth:`SwappableDetector.detect_labeled` for each batch: it reads the current
(model, detector) pair once, so a batch is labeled by one model and says which. A swap replaces
that pair with one assignment: the detector thread picks the new model up at its next batch and
never waits for a load (loads and smoke tests happen in the rollout thread). A batch already in
detection finishes on the old model and is labeled as such.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from edge.uplink import LabelingModel

Wrap = Callable[[object], object]
"""Builds what runs the frames from a bare detector (e.g. its tiled wrapper)."""


def labeling_model(detector) -> LabelingModel:
    return LabelingModel(detector.deployed_id, tuple(detector.class_names))


class SwappableDetector:
    """A (tiled) detector whose model a rollout can replace; everything else is the current one's."""

    def __init__(self, detector, wrap: Wrap):
        self._wrap = wrap
        self._current = (labeling_model(detector), wrap(detector))

    def swap(self, detector) -> None:
        self._current = (labeling_model(detector), self._wrap(detector))

    @property
    def model(self) -> LabelingModel:
        return self._current[0]

    def detect_labeled(self, images: Sequence) -> tuple[LabelingModel, list]:
        model, detector = self._current
        return model, detector.detect_many(images)

    def detect_many(self, images: Sequence) -> list:
        return self.detect_labeled(images)[1]

    def detect(self, image):
        return self.detect_many([image])[0]

    def __getattr__(self, name: str):
        if name.startswith("_"):  # (not yet set, e.g. while copying: no recursion into _current)
            raise AttributeError(name)
        return getattr(self._current[1], name)


class ModelSlot:
    """The agent's one model, shared by every camera's :class:`SwappableDetector` (cameras with
    other tiling have their own wrapper of the same model), plus whoever must hear of a swap."""

    def __init__(self, detector):
        self.detector = detector
        """The bare current detector (:class:`~edge.detection.runner.Detector`)."""
        self._swappables: list[SwappableDetector] = []
        self._listeners: list[Callable[[object], None]] = []
        self._lock = threading.Lock()

    def detector_for(self, wrap: Wrap) -> SwappableDetector:
        with self._lock:
            swappable = SwappableDetector(self.detector, wrap)
            self._swappables.append(swappable)
            return swappable

    def on_swap(self, listener: Callable[[object], None]) -> None:
        """``listener(new detector)`` after each swap (e.g. the uplink's heartbeat model id)."""
        self._listeners.append(listener)

    @property
    def model(self) -> LabelingModel:
        return labeling_model(self.detector)

    def swap(self, detector) -> None:
        with self._lock:
            self.detector = detector
            for swappable in self._swappables:
                swappable.swap(detector)
        for listener in self._listeners:
            listener(detector)
