"""Multi-object tracking on the edge: a ByteTrack-style tracker over the detector's boxes."""

from edge.tracking.bytetrack import ByteTracker, TrackUpdate
from edge.tracking.events import TrackEvent, TrackEventKind
from edge.tracking.kalman import BoxKalmanFilter
from edge.tracking.stride import StridedTracker, Tracker

__all__ = [
    "BoxKalmanFilter",
    "ByteTracker",
    "StridedTracker",
    "TrackEvent",
    "TrackEventKind",
    "TrackUpdate",
    "Tracker",
]
