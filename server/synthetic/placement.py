"""Where a class appears on a camera, and how tall it is there.

Per (device, class) from every verified box: the bottom-centre points (where the object stands)
and a least-squares line of box height against bottom y (perspective on a fixed camera: nearer,
lower in the picture, is bigger). A new object stands near an observed bottom-centre, moved by at
most :data:`JITTER_X` of its height sideways and :data:`JITTER_Y` up or down, so objects only
appear where that class was seen; its height is the line's prediction there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from server.synthetic.source_frames import VerifiedFrame

JITTER_X = 0.2
"""Sideways move from an observed bottom-centre, at most, as a share of the object's height."""
JITTER_Y = 0.04
"""Up/down move, at most, as a share of the height: small, the ground line matters for scale."""
HEIGHT_VARIATION = 0.05
"""Heights vary by up to this share around the fitted line (people differ in size)."""
MIN_POINTS_FOR_FIT = 5
MIN_BOTTOM_SPREAD_PX = 10.0
"""Fit a slope only when the bottoms span at least this many rows; else use the median height."""


@dataclass(frozen=True)
class PlacementModel:
    class_name: str
    anchors: np.ndarray
    """(N, 2) float: observed bottom-centre points (x, y)."""
    heights: np.ndarray
    """(N,) observed box heights, in the order of ``anchors``."""
    slope: float
    intercept: float

    def height_at(self, bottom_y: float) -> float:
        """Predicted box height for an object standing at ``bottom_y``, within the observed range (+-20%)."""
        predicted = self.slope * bottom_y + self.intercept
        return float(np.clip(predicted, 0.8 * self.heights.min(), 1.2 * self.heights.max()))

    def sample_anchor(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """A bottom-centre (x, y) near an observed one and the height there."""
        base_x, base_y = self.anchors[rng.integers(len(self.anchors))]
        height = self.height_at(base_y)
        x = base_x + rng.uniform(-JITTER_X, JITTER_X) * height
        y = base_y + rng.uniform(-JITTER_Y, JITTER_Y) * height
        return float(x), float(y), self.height_at(y) * rng.uniform(1 - HEIGHT_VARIATION, 1 + HEIGHT_VARIATION)

    def near_observed(self, x: float, y: float, height: float) -> bool:
        """True when (x, y) is within the jitter of some observed bottom-centre (for checks and tests)."""
        close = ((np.abs(self.anchors[:, 0] - x) <= JITTER_X * height + 1)
                 & (np.abs(self.anchors[:, 1] - y) <= JITTER_Y * height + 1))
        return bool(close.any())


def learn_placement(frames: list[VerifiedFrame], class_name: str) -> PlacementModel | None:
    """The placement model of ``class_name`` from the verified boxes in ``frames`` (None: never seen)."""
    xyxy = np.array([box.xyxy for frame in frames for box in frame.boxes if box.class_name == class_name], float)
    if not len(xyxy):
        return None
    anchors = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
    heights = xyxy[:, 3] - xyxy[:, 1]
    slope, intercept = 0.0, float(np.median(heights))
    if len(heights) >= MIN_POINTS_FOR_FIT and np.ptp(anchors[:, 1]) >= MIN_BOTTOM_SPREAD_PX:
        slope, intercept = (float(v) for v in np.polyfit(anchors[:, 1], heights, 1))
    return PlacementModel(class_name, anchors, heights, slope, intercept)
