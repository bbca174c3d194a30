"""ONNX Runtime behind :class:`ModelRuntime`: any execution provider, with a logged fallback to CPU."""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.detection.model_file import OPENVINO_IR, model_files, model_format
from edge.detection.runtimes.base import ONNXRUNTIME, ModelRuntime, RuntimeSettings, TensorSpec, threads_per_stream
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
        self._threads = threads_per_stream(settings)
        self.streams = settings.streams
        providers = usable_providers(settings.providers)
        # One session per stream: a session's thread pool serves one inference at a time well.
        sessions = [open_session(path, self._threads, providers, settings.provider_options)
                    for _ in range(settings.streams)]
        self._session = sessions[0]
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        for session in sessions:
            self._idle.put(session)
        self.inputs = [TensorSpec(i.name, tuple(i.shape), i.type) for i in self._session.get_inputs()]
        self.outputs = [TensorSpec(o.name, tuple(o.shape), o.type) for o in self._session.get_outputs()]
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)

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
        threads = "auto threads" if self._threads is None else f"{self._threads} thread{'s' if self._threads != 1 else ''}"
        streams = f" x {self.streams} streams" if self.streams > 1 else ""
        return f"onnxruntime {ort.__version__}, providers {', '.join(self.providers)}, {threads}{streams}"

    def run(self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        session = self._idle.get()
        try:
            return session.run(list(output_names), dict(feeds))
        except Exception as exc:  # a graph that loads but cannot execute (bad shapes inside, missing op)
            raise ModelError(f"model {self._path} failed to run: {ort_message(exc)}") from None
        finally:
            self._idle.put(session)


__all__ = ["CPU", "OnnxRuntimeModel"]
