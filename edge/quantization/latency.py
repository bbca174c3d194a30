"""Latency of several ways of running a model, measured together so they share the machine's load."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.detection.runner import Detector


@dataclass(frozen=True)
class Timing:
    label: str
    """What ran: ``float32 onnxruntime``, ``int8 openvino``..."""
    runtime: str
    """The runtime's one-line description."""
    median_ms: float
    """Median milliseconds of one inference (the model only: pre- and post-processing are the
    same code for every runtime)."""
    runs: int


def latencies(
    contenders: Sequence[tuple[str, Detector]],
    tensors: Sequence[np.ndarray],
    runs: int,
    block: int = 5,
) -> list[Timing]:
    """Median inference time of each contender on the same input tensors.

    Contenders take turns in blocks of ``block`` runs, after two untimed runs each (allocation and
    first-run caches), until each has ``runs`` timed runs: on a shared machine a burst of
    background load then hits all of them instead of one.
    """
    times: list[list[float]] = [[] for _ in contenders]
    for _, detector in contenders:
        for tensor in tensors[:2]:
            detector.infer(tensor)
    position = 0
    while len(times[-1]) < runs:
        for which, (_, detector) in enumerate(contenders):
            for offset in range(min(block, runs - len(times[which]))):
                tensor = tensors[(position + offset) % len(tensors)]
                started = time.perf_counter()
                detector.infer(tensor)
                times[which].append((time.perf_counter() - started) * 1000.0)
        position += block
    return [
        Timing(label, detector.runtime.description, statistics.median(samples), len(samples))
        for (label, detector), samples in zip(contenders, times)
    ]
