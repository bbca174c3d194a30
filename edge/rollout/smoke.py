"""The smoke test a new model passes before it labels anything: it runs on recent kept frames and
its output must be well-formed boxes with finite numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.frame_detections import Detections

SMOKE_FRAMES = 3


class SmokeTestFailed(Exception):
    """``failed_smoke_test``: the detail says which frame and what was wrong."""


def smoke_test(detector, images: Sequence[np.ndarray]) -> int:
    """Run ``detector`` (``detect_many``) on ``images``; raise :class:`SmokeTestFailed` on an
    exception or malformed output. Returns the boxes found (for the log)."""
    if not images:
        raise SmokeTestFailed("no recent kept frame to test the model on yet")
    try:
        results = detector.detect_many(list(images))
    except Exception as exc:  # whatever the runtime raises: the model is not fit to run
        raise SmokeTestFailed(f"the model failed on a recent frame: {exc}") from None
    if len(results) != len(images):
        raise SmokeTestFailed(f"{len(results)} results for {len(images)} frames")
    boxes = 0
    for index, (detections, image) in enumerate(zip(results, images)):
        problem = _problem(detections, image.shape[:2], len(detector.class_names))
        if problem:
            raise SmokeTestFailed(f"frame {index + 1} of {len(images)}: {problem}")
        boxes += len(detections)
    return boxes


def _problem(detections, frame_hw: tuple[int, int], num_classes: int) -> str:
    if not isinstance(detections, Detections):
        return f"expected detections, got {type(detections).__name__}"
    height, width = frame_hw
    xyxy, score = detections.xyxy, detections.confidence
    if not (np.isfinite(xyxy).all() and np.isfinite(score).all()):
        return "non-finite box coordinates or scores"
    if len(xyxy) and ((xyxy[:, 0] < 0).any() or (xyxy[:, 1] < 0).any() or (xyxy[:, 2] > width).any()
                      or (xyxy[:, 3] > height).any() or (xyxy[:, 2] < xyxy[:, 0]).any()
                      or (xyxy[:, 3] < xyxy[:, 1]).any()):
        return "boxes outside the frame or inside out"
    if len(score) and ((score < 0).any() or (score > 1).any()):
        return "scores outside [0, 1]"
    if len(detections.class_id) and ((detections.class_id < 0).any() or (detections.class_id >= num_classes).any()):
        return "class ids the model has no name for"
    return ""
