"""Detections of one frame as parallel numpy arrays (in the style of supervision's ``Detections``).

What the detector returns for a frame and what the tracker, the selector and the uplink pass on;
named apart from :mod:`edge.detection`, the package that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.contract.wire import NO_TRACK, Labels


@dataclass(frozen=True)
class Detections:
    xyxy: np.ndarray
    """(N, 4) float32, pixel corners in the full frame."""
    confidence: np.ndarray
    """(N,) float32 in [0, 1]."""
    class_id: np.ndarray
    """(N,) int64 index into the model's class names."""
    tracker_id: np.ndarray
    """(N,) int64, ``NO_TRACK`` (-1) where no tracker assigned an id."""

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy: expected shape (N, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "tracker_id"):
            column = getattr(self, name)
            if column.shape != (n,):
                raise ValueError(f"{name}: expected shape ({n},), got {column.shape}")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            tracker_id=np.zeros(0, np.int64),
        )

    @classmethod
    def from_arrays(cls, xyxy, confidence, class_id, tracker_id=None) -> "Detections":
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if tracker_id is None:
            tracker_id = np.full(len(xyxy), NO_TRACK, np.int64)
        return cls(
            xyxy=xyxy,
            confidence=np.asarray(confidence, np.float32).reshape(-1),
            class_id=np.asarray(class_id, np.int64).reshape(-1),
            tracker_id=np.asarray(tracker_id, np.int64).reshape(-1),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, mask) -> "Detections":
        """Select rows by boolean mask or index array (returns a new object; never mutates)."""
        return Detections(self.xyxy[mask], self.confidence[mask], self.class_id[mask], self.tracker_id[mask])

    def to_labels(self) -> Labels:
        """The wire representation of these boxes."""
        return Labels(
            xyxy=tuple(tuple(float(v) for v in row) for row in self.xyxy),
            score=tuple(float(v) for v in self.confidence),
            class_id=tuple(int(v) for v in self.class_id),
            track_id=tuple(int(v) for v in self.tracker_id),
        )
