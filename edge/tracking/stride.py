"""Tracking with a detector that runs on every k-th frame only.

An edge device that cannot afford inference on every frame runs the detector every
``detect_every`` frames and lets the tracker predict the boxes in between.
:class:`StridedTracker` decides which frames get a detection and feeds the tracker the number of
frames since its last update, counted in the source's frame indices, so frames a live source
dropped or an image directory skipped still count as time that passed. Predicted boxes are
clipped to the frame, like the detector's, and dropped once entirely outside it (an object that
walked out): the wire format only carries boxes inside the image.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge.contract.errors import ConfigError
from edge.frame_detections import Detections
from edge.sources import Frame
from edge.tracking.bytetrack import TrackUpdate


class Tracker(Protocol):
    """What :class:`StridedTracker` (and the pipeline) need of a tracker: see ``ByteTracker.update``."""

    def update(self, detections: Detections | None, frames_since_last_update: int = 1) -> TrackUpdate: ...


class StridedTracker:
    """Runs ``tracker`` on every frame with detections from every ``detect_every``-th frame.

    A frame needs a detection when it is the first one or at least ``detect_every`` source
    frames have passed since the last detected one (so after dropped frames the detector runs
    on the next frame that arrives rather than waiting for an exact multiple). Raising
    ``detect_every`` saves inference roughly in proportion, at the cost of boxes that lag
    behind objects that change speed or direction and of objects that appear a little later.

    :meth:`needs_detection` and :meth:`step` keep separate state, so the pipeline may ask the
    first on its detector thread while the second runs on another; each is called once per
    frame, in frame order.
    """

    def __init__(self, tracker: Tracker, detect_every: int = 1):
        if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
            raise ConfigError(f"detect_every: expected an integer >= 1, got {detect_every!r}")
        self.tracker = tracker
        self.detect_every = detect_every
        self._last_detected_index: int | None = None  # written by needs_detection only
        self._last_update_index: int | None = None  # written by step only

    def needs_detection(self, frame: Frame) -> bool:
        """Whether to run the detector on ``frame``; a yes counts as that frame being detected."""
        last = self._last_detected_index
        due = last is None or frame.index - last >= self.detect_every or frame.index < last
        if due:
            self._last_detected_index = frame.index
        return due

    def step(self, frame: Frame, detections: Detections | None) -> TrackUpdate:
        """Update the tracker with the detections of ``frame``, or predict its boxes (``None``)."""
        last = self._last_update_index
        # A source that restarts its numbering (a reopened camera) is treated as one frame on.
        frames = 1 if last is None or frame.index <= last else frame.index - last
        update = self.tracker.update(detections, frames_since_last_update=frames)
        if detections is not None:
            self._last_update_index = frame.index
            return update
        return TrackUpdate(_inside(update.detections, frame.width, frame.height), update.events)


def _inside(detections: Detections, width: int, height: int) -> Detections:
    xyxy = detections.xyxy.copy()
    np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
    visible = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return Detections(xyxy, detections.confidence, detections.class_id, detections.tracker_id)[visible]
