"""The smoke test a new model passes before it labels anything: it runs on recent kept frames, its
raw outputs must be finite (a model that outputs NaN would otherwise just find nothing: NaN scores
fail every threshold), and its boxes well-formed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.frame_detections import Detections

SMOKE_FRAMES = 3


class SmokeTestFailed(Exception):
    """``failed_smoke_test``: the detail says which frame and what was wrong."""


def smoke_test(detector, images: Sequence[np.ndarray], model=None) -> int:
    """Run ``detector`` (``detect_many``, as the pipeline will) on ``images``, and ``model`` (the bare
    :class:`~edge.detection.runner.Detector` inside it, if given) on the first of them for its raw
    outputs; raise :class:`SmokeTestFailed` on an exception or malformed output. Returns the boxes
    found (for the log)."""
    if not images:
        raise SmokeTestFailed("no recent kept frame to test the model on yet")
    try:
        if model is not None:
            for name, output in zip(model.head_output_names, model.infer(model.preprocess(images[0]).tensor)):
                output = np.asarray(output)
                if output.dtype.kind == "f" and not np.isfinite(output).all():
                    raise SmokeTestFailed(f"the model's output {name!r} holds non-finite values on a recent frame")
        results = detector.detect_many(list(images))
    except SmokeTestFailed:
        raise
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
