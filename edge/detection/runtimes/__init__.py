"""Inference runtimes behind one interface: ONNX Runtime (any provider) and OpenVINO.

:func:`open_runtime` loads a model file on the runtime :class:`RuntimeSettings` asks for (``auto``:
OpenVINO IR on OpenVINO, ONNX on ONNX Runtime). Only the chosen runtime's package is imported.
"""

from __future__ import annotations

from pathlib import Path

from edge.detection.model_file import OPENVINO_IR, model_format
from edge.detection.runtimes.base import (
    AUTO,
    ONNXRUNTIME,
    OPENVINO,
    OPENVINO_PRECISIONS,
    RUNTIMES,
    ModelRuntime,
    RuntimeSettings,
    TensorSpec,
)


def resolved_runtime(path: Path, settings: RuntimeSettings) -> str:
    """The runtime ``settings`` mean for the model at ``path`` (``auto`` decided by the file format)."""
    if settings.name != AUTO:
        return settings.name
    return OPENVINO if model_format(path) == OPENVINO_IR else ONNXRUNTIME


def open_runtime(path: Path, settings: RuntimeSettings) -> ModelRuntime:
    """Load ``path`` on its runtime. Raises :class:`edge.errors.ModelError` with one line."""
    if resolved_runtime(path, settings) == OPENVINO:
        from edge.detection.runtimes.ov_runtime import OpenVinoModel

        return OpenVinoModel(path, settings)
    from edge.detection.runtimes.ort_runtime import OnnxRuntimeModel

    return OnnxRuntimeModel(path, settings)


__all__ = [
    "AUTO", "ONNXRUNTIME", "OPENVINO", "OPENVINO_PRECISIONS", "RUNTIMES", "ModelRuntime", "RuntimeSettings",
    "TensorSpec", "open_runtime", "resolved_runtime",
]  # fmt: skip
