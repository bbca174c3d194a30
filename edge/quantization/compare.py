"""Judge an int8 model against its float original on held-out frames: agreement and latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.detection.mean_ap import mean_average_precision
from edge.detection.runner import OnnxDetector
from edge.detection.session import CPU, open_session

PREDICTION_SCORE_THRESHOLD = 0.01
"""The int8 model's boxes are ranked down to this score, as in COCO evaluation: mAP measures the
ranking, so a low floor keeps boxes the int8 model scores a little lower than float from counting
as misses."""


MIN_CLASS_BOXES = 5
"""Classes with fewer reference boxes are reported but left out of the judged mean: with one or
two boxes a class's AP is 0, 0.5 or 1 by the luck of one detection."""


@dataclass(frozen=True)
class ClassAgreement:
    ap50: float
    reference_boxes: int
    judged: bool
    """Counted in :attr:`Agreement.map50` (at least ``min_class_boxes`` reference boxes)."""


@dataclass(frozen=True)
class Agreement:
    map50: float | None
    """mAP@0.5 of int8 boxes against the float model's, over classes with enough reference
    boxes; None when no class has enough."""
    map50_all_classes: float | None
    """The same over every class the float model found (COCO's mean), rare ones included."""
    per_class: dict[str, ClassAgreement]
    reference_boxes: int
    """Boxes the float model found at the operating score threshold (the reference)."""
    frames: int
    min_class_boxes: int


@dataclass(frozen=True)
class Latency:
    float_ms: float
    """Median milliseconds per inference of the float model."""
    int8_ms: float
    threads: int
    runs: int

    @property
    def speedup(self) -> float:
        """Float time over int8 time: above 1 the int8 model is faster."""
        return self.float_ms / self.int8_ms


def agreement(
    float_detector: OnnxDetector,
    int8_detector: OnnxDetector,
    frames: Sequence[np.ndarray],
    min_class_boxes: int = MIN_CLASS_BOXES,
) -> Agreement:
    """mAP@0.5 of ``int8_detector`` against ``float_detector`` as reference, over ``frames``.

    ``float_detector``'s score threshold is the operating point that defines the reference boxes;
    ``int8_detector`` should be built with :data:`PREDICTION_SCORE_THRESHOLD`.
    """
    references = [float_detector.detect(frame) for frame in frames]
    predictions = [int8_detector.detect(frame) for frame in frames]
    result = mean_average_precision(predictions, references, iou_threshold=0.5)
    names = float_detector.class_names
    per_class = {
        names[c]: ClassAgreement(ap, result.per_class_boxes[c], result.per_class_boxes[c] >= min_class_boxes)
        for c, ap in result.per_class.items()
    }
    judged = [c.ap50 for c in per_class.values() if c.judged]
    return Agreement(
        map50=float(np.mean(judged)) if judged else None,
        map50_all_classes=result.mean_ap,
        per_class=per_class,
        reference_boxes=result.reference_boxes,
        frames=len(frames),
        min_class_boxes=min_class_boxes,
    )


def latency(float_path: Path, int8_path: Path, tensors: Sequence[np.ndarray], threads: int, runs: int) -> Latency:
    """Median inference time of both models on the same input tensors, interleaved run by run.

    Interleaving puts both models under the same background load on a shared machine; only the
    model is timed (letterbox and decode are the same work for both).
    """
    sessions = [open_session(path, threads, [CPU]) for path in (float_path, int8_path)]
    input_names = [session.get_inputs()[0].name for session in sessions]
    times: list[list[float]] = [[], []]
    for index in range(runs + 2):  # two untimed runs each: allocation and first-run caches
        tensor = tensors[index % len(tensors)]
        for which, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, {input_names[which]: tensor})
            if index >= 2:
                times[which].append((time.perf_counter() - started) * 1000.0)
    return Latency(statistics.median(times[0]), statistics.median(times[1]), threads, runs)
