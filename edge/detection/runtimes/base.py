"""What a detector needs of an inference runtime: tensor descriptions, metadata, and ``run``.

The detector (:mod:`edge.detection.runner`) does the pre- and post-processing in numpy, the same
for every runtime; a runtime only loads a model file and runs it. ONNX Runtime
(:mod:`.ort_runtime`) and OpenVINO (:mod:`.ov_runtime`) implement :class:`ModelRuntime`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.config import PRECISIONS

ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
RUNTIMES = (ONNXRUNTIME, OPENVINO)
AUTO = "auto"
"""Pick the runtime from the model file: OpenVINO IR (``.xml``) runs on OpenVINO, ONNX on ONNX Runtime."""

OPENVINO_PRECISIONS = PRECISIONS
"""OpenVINO's inference precision for a model's float layers (see ``edge.config.PRECISIONS``)."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the runtime declares it."""

    name: str
    shape: tuple[int | str | None, ...]
    """Declared dimensions; a string or None where a dimension is symbolic."""
    dtype: str
    """ONNX type string (``tensor(float)``, ``tensor(int64)``), whichever runtime describes it."""


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how a model runs. Fields that do not apply to the chosen runtime are ignored.

    Args:
        name: ``onnxruntime``, ``openvino``, or ``auto`` (by the model file's format).
        threads: threads inside one inference; None lets the runtime pick (one per physical
            core). Fewer leaves cores to capture, tracking and encoding.
        providers: ONNX Runtime execution providers, most preferred first (short or full names);
            unavailable ones fall back to CPU with a warning.
        provider_options: per ONNX Runtime provider name, its options (e.g. TensorRT's int8
            calibration table and engine cache); see :mod:`edge.detection.tensorrt`.
        device: OpenVINO device: ``CPU``, ``GPU``, ``NPU`` or ``AUTO``; an unavailable one falls back
            to CPU with a warning.
        precision: OpenVINO's inference precision for float layers (:data:`OPENVINO_PRECISIONS`).
        streams: inferences that may run at once, each on its share of ``threads`` (ONNX Runtime:
            one session per stream; OpenVINO: its throughput mode with this many streams). A small
            model gains throughput from two single-threaded inferences side by side where one
            two-threaded one leaves cores idle between its layers; each frame's latency grows.
    """

    name: str = AUTO
    threads: int | None = None
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    provider_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    device: str = "CPU"
    precision: str = "f32"
    streams: int = 1

    def __post_init__(self) -> None:
        from edge.contract.errors import ConfigError

        if self.name not in (AUTO, *RUNTIMES):
            raise ConfigError(f"runtime must be one of {AUTO}, {', '.join(RUNTIMES)}; got {self.name!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        if self.streams < 1:
            raise ConfigError(f"streams must be at least 1, got {self.streams}")
        if self.precision not in OPENVINO_PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(OPENVINO_PRECISIONS)}; got {self.precision!r}")


def threads_per_stream(settings: RuntimeSettings) -> int | None:
    """Each stream's share of the threads (None: the runtime's choice, for one stream)."""
    if settings.streams == 1:
        return settings.threads
    total = settings.threads if settings.threads is not None else len(os.sched_getaffinity(0))
    return max(1, total // settings.streams)


class ModelRuntime(ABC):
    """A loaded model; :meth:`run` may be called from up to :attr:`streams` threads at once."""

    name: str
    """``onnxruntime`` or ``openvino``."""
    streams: int = 1
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    metadata: Mapping[str, str]
    """The model file's key/value metadata (ONNX ``metadata_props``; the same keys in an IR)."""

    @property
    @abstractmethod
    def tag(self) -> str:
        """Short name of where the model runs, for model ids and heartbeats: ``ort-cpu``,
        ``ort-tensorrt``, ``ov-cpu-f32``. Two tags differ when the outputs may differ."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for the log: runtime, version, device or providers, precision, threads."""

    @abstractmethod
    def run(self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs for these inputs. Raises :class:`edge.errors.ModelError` on failure."""
