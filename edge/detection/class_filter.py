"""A detector that returns the boxes of some classes only (``track --classes``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.frame_detections import Detections


class ClassFilter:
    """Wraps ``detector``; boxes of classes not in ``class_ids`` are dropped before anyone sees them."""

    def __init__(self, detector, class_ids: Sequence[int]):
        self.detector = detector
        self.class_ids = np.asarray(class_ids, np.int64)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        found = self.detector.detect(image_bgr)
        return found[np.isin(found.class_id, self.class_ids)]
