"""A detector that slices large frames into tiles and returns one set of boxes per frame.

It wraps a :class:`~edge.detection.runner.Detector` and offers the same ``detect`` and
``detect_many``, so the pipeline, the tracker and the selector see one :class:`Detections` per
frame whatever the tiling. The views of the frames (their tiles, and the whole frames) go
through the detector together: as one batch when the model takes batches, else side by side on
the runtime's streams; frames of several cameras share one such call.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from edge.contract.errors import ConfigError
from edge.detection.runner import Detector
from edge.detection.tiling import TilePlan, View, check_overlap, merge_views, plan_tiles
from edge.frame_detections import Detections
from edge.tile_spec import parse_tiles

log = logging.getLogger("edge.detector")


class TiledDetector:
    """:class:`Detector` with sliced inference for frames much larger than the model's input.

    Args:
        detector: runs every view.
        tiles: ``auto`` (a grid for frames more than twice the input, none for smaller ones),
            ``RxC`` (always that grid), or ``off``.
        overlap: share of a tile shared with its neighbour (see :func:`plan_tiles`).
        full_frame: also detect on the whole frame shrunk to the input, for objects larger than a
            tile; costs one more view per frame.
    """

    def __init__(self, detector: Detector, tiles: str = "auto", overlap: float = 0.2, full_frame: bool = True):
        try:
            self._tiles = parse_tiles(tiles)
            check_overlap(overlap)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._detector = detector
        self._overlap = overlap
        self._full_frame = full_frame
        self._plans: dict[tuple[int, int], TilePlan | None] = {}
        self._plans_lock = threading.Lock()

    def __getattr__(self, name: str):
        # Everything else (class names, model id, runtime, streams, ...) is the wrapped detector's.
        return getattr(self._detector, name)

    @property
    def detector(self) -> Detector:
        return self._detector

    def plan(self, frame_hw: tuple[int, int]) -> TilePlan | None:
        """The grid for frames of this size (decided once per size, and logged)."""
        with self._plans_lock:
            if frame_hw not in self._plans:
                plan = plan_tiles(self._tiles, frame_hw, self._detector.input_hw, self._overlap, self._full_frame)
                self._plans[frame_hw] = plan
                size = f"{frame_hw[1]}x{frame_hw[0]}"
                log.info("frames %s: %s", size, plan.describe if plan else "detected whole (no tiles)")
            return self._plans[frame_hw]

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.detect_many([image_bgr])[0]

    def detect_many(self, images: list[np.ndarray]) -> list[Detections]:
        """Every view of every image through the detector together, then each image's merge."""
        views: list[np.ndarray] = []
        layouts: list[tuple[TilePlan | None, list[tuple[int, int, int, int]], int]] = []
        for image in images:
            frame_hw = image.shape[:2]
            plan = self.plan(frame_hw)
            tiles = [tuple(int(v) for v in xyxy) for xyxy in plan.tiles_xyxy(frame_hw)] if plan else []
            start = len(views)
            views += [image[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles]
            if plan is None or plan.full_frame:
                views.append(image)
            layouts.append((plan, tiles, start))
        found = self._detector.detect_many(views)
        results = []
        for image, (plan, tiles, start) in zip(images, layouts):
            if plan is None:
                results.append(found[start])
                continue
            frame_hw = image.shape[:2]
            parts = [View(found[start + i], xyxy, True) for i, xyxy in enumerate(tiles)]
            if plan.full_frame:
                parts.append(View(found[start + len(tiles)], (0, 0, frame_hw[1], frame_hw[0]), False))
            results.append(merge_views(parts, frame_hw, iou_threshold=self._detector.iou_threshold,
                                       max_detections=self._detector.max_detections))
        return results
