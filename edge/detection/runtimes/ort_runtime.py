"""ONNX Runtime behind :class:`ModelRuntime`: any execution provider, with a logged fallback to CPU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.detection.model_file import OPENVINO_IR, model_files, model_format
from edge.detection.runtimes.base import ONNXRUNTIME, ModelRuntime, RuntimeSettings, TensorSpec
from edge.detection.session import CPU, open_session, ort_message, usable_providers
from edge.errors import ModelError

_SHORT_PROVIDER = {
    "CPUExecutionProvider": "cpu",
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "tensorrt",
    "OpenVINOExecutionProvider": "openvino",
}


class OnnxRuntimeModel(ModelRuntime):
    name = ONNXRUNTIME

    def __init__(self, path: Path, settings: RuntimeSettings):
        model_files(path)
        if model_format(path) == OPENVINO_IR:
            raise ModelError(f"model {path} is an OpenVINO IR file: run it with --runtime openvino "
                             "(or runtime = \"openvino\" in the config)")
        self._path = path
        self._threads = settings.threads
        self._session = open_session(path, settings.threads, usable_providers(settings.providers),
                                     settings.provider_options)
        self._inputs = [TensorSpec(i.name, tuple(i.shape), i.type) for i in self._session.get_inputs()]
        self._outputs = [TensorSpec(o.name, tuple(o.shape), o.type) for o in self._session.get_outputs()]

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    @property
    def metadata(self) -> Mapping[str, str]:
        return dict(self._session.get_modelmeta().custom_metadata_map)

    @property
    def providers(self) -> tuple[str, ...]:
        """The execution providers the session actually uses, most preferred first."""
        return tuple(self._session.get_providers())

    @property
    def tag(self) -> str:
        first = self.providers[0]
        return "ort-" + _SHORT_PROVIDER.get(first, first.removesuffix("ExecutionProvider").lower()[:12])

    @property
    def description(self) -> str:
        threads = self._threads if self._threads is not None else "auto"
        return f"onnxruntime {ort.__version__}, providers {', '.join(self.providers)}, {threads} threads"

    def run(self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return self._session.run(list(output_names), dict(feeds))
        except Exception as exc:  # a graph that loads but cannot execute (bad shapes inside, missing op)
            raise ModelError(f"model {self._path} failed to run: {ort_message(exc)}") from None


__all__ = ["CPU", "OnnxRuntimeModel"]
