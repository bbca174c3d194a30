"""The tracker's tracks as parallel numpy arrays, one row per track.

Rows rather than one object per track because every step of an update (predict, cost matrices,
Kalman correction) works on all tracks at once; a list of objects would have to be stacked into
arrays and split again at every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from edge.contract.boxes import cxcywh_to_xyxy
from edge.tracking.kalman import MEASUREMENT_SIZE, STATE_SIZE


class TrackStatus(IntEnum):
    TENTATIVE = 0
    """Started, not yet confirmed: its boxes carry no id, and a single miss ends it."""
    TRACKED = 1
    """Confirmed and matched at the last update."""
    LOST = 2
    """Confirmed, missed at the last update or longer: predicted and searched for until its buffer runs out."""


@dataclass
class TrackTable:
    track_id: np.ndarray
    """(N,) int64, unique within one tracker."""
    class_id: np.ndarray
    """(N,) int64."""
    status: np.ndarray
    """(N,) int8 :class:`TrackStatus`."""
    confirmed: np.ndarray
    """(N,) bool: the track has been confirmed at some point (TRACKED or LOST now)."""
    score: np.ndarray
    """(N,) float32, score of the last matched detection."""
    hits: np.ndarray
    """(N,) int64, consecutive updates with a match (what confirmation counts)."""
    frames_since_match: np.ndarray
    """(N,) int64."""
    age_frames: np.ndarray
    """(N,) int64, frames since the track started."""
    mean: np.ndarray
    """(N, 8) Kalman state: ``cxcywh`` and its velocities per frame."""
    covariance: np.ndarray
    """(N, 4, 2, 2): per box coordinate, the covariance of (value, velocity) (see :mod:`.kalman`)."""

    @classmethod
    def empty(cls) -> "TrackTable":
        return cls(
            track_id=np.zeros(0, np.int64),
            class_id=np.zeros(0, np.int64),
            status=np.zeros(0, np.int8),
            confirmed=np.zeros(0, bool),
            score=np.zeros(0, np.float32),
            hits=np.zeros(0, np.int64),
            frames_since_match=np.zeros(0, np.int64),
            age_frames=np.zeros(0, np.int64),
            mean=np.zeros((0, STATE_SIZE)),
            covariance=np.zeros((0, MEASUREMENT_SIZE, 2, 2)),
        )

    def __len__(self) -> int:
        return len(self.track_id)

    def select(self, rows) -> "TrackTable":
        """The tracks at ``rows`` (boolean mask or indices), as a new table."""
        return TrackTable(*(column[rows] for column in self._columns()))

    def copy(self) -> "TrackTable":
        return TrackTable(*(column.copy() for column in self._columns()))

    def concatenate(self, other: "TrackTable") -> "TrackTable":
        return TrackTable(*(np.concatenate(pair) for pair in zip(self._columns(), other._columns())))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, name) for name in _COLUMNS)

    @property
    def xyxy(self) -> np.ndarray:
        """(N, 4) current boxes (the Kalman mean) as corners."""
        return cxcywh_to_xyxy(self.mean[:, :MEASUREMENT_SIZE])


_COLUMNS = tuple(f.name for f in fields(TrackTable))
"""Column names in declaration order (what the constructor takes positionally)."""
