"""OpenVINO's runtime behind :class:`ModelRuntime`: ONNX or OpenVINO IR files, on CPU, GPU or NPU.

Installed with the ``openvino`` extra. The inference precision of float layers is set explicitly
(:data:`OPENVINO_PRECISIONS`): on CPUs with AMX or AVX-512 BF16 OpenVINO would otherwise run them
in bf16, which changes the outputs a little and would not be what ``quantize`` checked.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edge.detection.model_file import model_files
from edge.detection.runtimes.base import OPENVINO, ModelRuntime, RuntimeSettings, TensorSpec
from edge.errors import ModelError

log = logging.getLogger("edge.detector")

_ONNX_TYPES = {
    "f32": "tensor(float)", "f16": "tensor(float16)", "bf16": "tensor(bfloat16)", "f64": "tensor(double)",
    "i64": "tensor(int64)", "i32": "tensor(int32)", "i8": "tensor(int8)", "u8": "tensor(uint8)",
    "boolean": "tensor(bool)",
}  # fmt: skip
METADATA_SECTION = "framework"
"""Where OpenVINO keeps an ONNX file's ``metadata_props`` (in the model's rt_info); IR written by
``quantize`` keeps them there too, so names and layout travel with the model."""


def import_openvino():
    """The ``openvino`` module, or a ModelError saying which extra installs it."""
    try:
        import openvino
    except ImportError:
        raise ModelError("the OpenVINO runtime is not installed: pip install 'edgelabel[openvino]' "
                         "(or choose --runtime onnxruntime)") from None
    return openvino


class OpenVinoModel(ModelRuntime):
    name = OPENVINO

    def __init__(self, path: Path, settings: RuntimeSettings):
        ov = import_openvino()
        model_files(path)
        self._path = path
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError with a multi-line C++ trace
            raise ModelError(f"cannot load model {path}: {_first_line(exc)}") from None
        self.metadata = _framework_metadata(model)
        self.inputs = [_spec(port) for port in model.inputs]
        self.outputs = [_spec(port) for port in model.outputs]
        self._device = _usable_device(core, settings.device)
        self.streams = settings.streams
        if settings.streams == 1:
            config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        else:  # OpenVINO's own way to run inferences side by side: streams sharing one compiled model
            config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": settings.streams}
        if self._device == "CPU":
            if settings.threads is not None:
                config["INFERENCE_NUM_THREADS"] = settings.threads
            # The agent's capture, tracking and encoding threads share these cores; pinned inference
            # threads would keep them off their core even while it idles.
            config["ENABLE_CPU_PINNING"] = False
        if settings.precision != "default":
            config["INFERENCE_PRECISION_HINT"] = settings.precision
        try:
            self._compiled = core.compile_model(model, self._device, config)
        except Exception as exc:
            raise ModelError(f"cannot compile model {path} for OpenVINO {self._device}: {_first_line(exc)}") from None
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(settings.streams):
            self._idle.put(self._compiled.create_infer_request())
        self._ports = {spec.name: self._compiled.output(i) for i, spec in enumerate(self.outputs)}
        self._precision = _compiled_precision(self._compiled, settings.precision)
        self._threads = settings.threads
        self._version = ov.get_version().split("-")[0]

    @property
    def device(self) -> str:
        return self._device

    @property
    def precision(self) -> str:
        """The precision float layers actually run in (``f32``, ``bf16``, ``f16``)."""
        return self._precision

    @property
    def tag(self) -> str:
        return f"ov-{self._device.lower()[:6]}-{self.precision}"

    @property
    def description(self) -> str:
        threads = "auto threads" if self._threads is None else f"{self._threads} thread{'s' if self._threads != 1 else ''}"
        streams = f" in {self.streams} streams" if self.streams > 1 else ""
        return (f"openvino {self._version}, device {self._device}, {self.precision} float layers, "
                f"{threads}{streams}")

    def run(self, output_names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        request = self._idle.get()
        try:
            results = request.infer(dict(feeds))
            # infer() copies outputs out of the request (share_outputs=False), so reusing it is safe.
            return [np.asarray(results[self._ports[name]]) for name in output_names]
        except KeyError as exc:
            raise ModelError(f"model {self._path} has no output {exc.args[0]!r}") from None
        except Exception as exc:
            raise ModelError(f"model {self._path} failed to run: {_first_line(exc)}") from None
        finally:
            self._idle.put(request)


def _spec(port) -> TensorSpec:
    shape = tuple(
        dim.get_length() if dim.is_static else None for dim in port.get_partial_shape()
    ) if port.get_partial_shape().rank.is_static else ()
    names = port.get_names()
    name = port.get_any_name() if names else f"output{port.get_index()}"
    return TensorSpec(name, shape, _ONNX_TYPES.get(port.get_element_type().get_type_name(), "tensor(unknown)"))


def _framework_metadata(model) -> dict[str, str]:
    if not model.has_rt_info([METADATA_SECTION]):
        return {}
    section = model.get_rt_info()[METADATA_SECTION]
    found = {}
    for key in section.astype(dict) if hasattr(section, "astype") else section:
        try:
            found[str(key)] = str(model.get_rt_info([METADATA_SECTION, str(key)]).astype(str))
        except Exception:  # a non-string entry written by another tool
            continue
    return found


def _usable_device(core, wanted: str) -> str:
    wanted = wanted.upper()
    available = core.available_devices
    if wanted == "AUTO" or wanted.split(".")[0] in {d.split(".")[0] for d in available} or wanted in available:
        return wanted
    log.warning("OpenVINO device %s is not available (found %s), using CPU instead", wanted, ", ".join(available))
    return "CPU"


def _compiled_precision(compiled, asked: str) -> str:
    """What the compiled model runs float layers in; the request itself where a device cannot say."""
    try:
        return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    except Exception:  # devices without the property (some plugins)
        return asked


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # OpenVINO's messages start with "Exception from src/...cpp:123:" before the useful line.
    useful = [line for line in lines if not line.startswith(("Exception from", "Check '"))]
    return ((useful or lines or [type(exc).__name__])[0])[:300]
