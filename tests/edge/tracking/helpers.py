"""Small builders for tracker tests: detections from plain box lists."""

import numpy as np

from edge.frame_detections import Detections

PERSON, CAR = 0, 2


def boxes(*xyxy, score=0.9, class_id=PERSON) -> Detections:
    """Detections of the given ``(x1, y1, x2, y2)`` boxes, all with one score and class."""
    count = len(xyxy)
    return Detections.from_arrays(
        np.asarray(xyxy, np.float32).reshape(-1, 4), np.full(count, score), np.full(count, class_id)
    )


def walker(x: float, y: float = 100.0, width: float = 50.0, height: float = 120.0) -> tuple:
    return (x, y, x + width, y + height)
