"""Open an ONNX Runtime session: execution providers by name, threads, and one-line load errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnxruntime as ort

from edge.errors import ModelError

log = logging.getLogger("edge.detector")

CPU = "CPUExecutionProvider"

PROVIDER_ALIASES = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "ov": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}
"""Short names accepted for ``--provider``, besides ONNX Runtime's own names (any case)."""

DISABLED_OPTIMIZERS = ("WeightBiasQuantization",)
"""ONNX Runtime graph rewrites never applied. WeightBiasQuantization quantizes the float weights of
a Conv whose input comes from a DequantizeLinear, i.e. exactly the layers a quantized model keeps
in float on purpose (``quantize --exclude-head``/``--exclude-node``); with onnxruntime 1.32 it also
broke such models when the float layer was a depthwise Conv (max objectness 0.98 -> 0.10). It
does nothing to float or fully quantized models."""

_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .*? failed:)?")


def provider_name(name: str) -> str:
    """ONNX Runtime's name for ``name``: ``cuda`` and ``CUDA`` give ``CUDAExecutionProvider``.

    A name ONNX Runtime does not know is returned unchanged, to be reported as unavailable.
    """
    key = name.strip().lower()
    if key in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key]
    for known in ort.get_all_providers():
        if key in (known.lower(), known.lower().removesuffix("executionprovider")):
            return known
    return name


def usable_providers(requested: Sequence[str] | str) -> list[str]:
    """The requested providers this ONNX Runtime build has, in order, always ending with CPU.

    Unavailable ones are dropped with one warning naming them (CPU takes their place).
    """
    if isinstance(requested, str):  # a lone name would otherwise be split into letters
        requested = (requested,)
    wanted = list(dict.fromkeys(provider_name(p) for p in requested))
    available = set(ort.get_available_providers())
    usable = [p for p in wanted if p in available]
    missing = [p for p in wanted if p not in available]
    if missing:
        log.warning(
            "execution providers not available in this onnxruntime, using CPU instead: %s", ", ".join(missing)
        )
    if CPU not in usable:
        usable.append(CPU)  # the fallback for nodes other providers cannot run
    return usable


def open_session(
    path: Path | bytes,
    intra_op_threads: int | None,
    providers: Sequence[str],
    provider_options: Mapping[str, Mapping[str, str]] | None = None,
) -> ort.InferenceSession:
    """A session on ``path`` (or a serialized model); ModelError with ONNX Runtime's first line if
    it cannot be loaded.

    ``provider_options`` gives options per provider name (e.g. TensorRT's engine cache); options of
    a provider not in ``providers`` are ignored. A provider that is built in but fails to start (no
    GPU, missing CUDA libraries) is dropped by ONNX Runtime itself; that is logged here as a
    fallback too.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One frame at a time through a sequential graph: parallelism inside ops is what helps.
    options.inter_op_num_threads = 1
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3  # errors only; ORT's warnings are noise on a user's terminal
    try:
        session = ort.InferenceSession(
            path if isinstance(path, bytes) else str(path),
            sess_options=options,
            providers=[(p, dict(provider_options.get(p, {}))) if provider_options else p for p in providers],
            disabled_optimizers=list(DISABLED_OPTIMIZERS),
        )
    except Exception as exc:  # ORT raises a family of pybind11 classes with no common base but Exception
        name = "(in memory)" if isinstance(path, bytes) else path
        raise ModelError(f"cannot load model {name}: {ort_message(exc)}") from None
    dropped = [p for p in providers if p not in session.get_providers()]
    if dropped:
        log.warning("execution providers failed to start, using CPU instead: %s", ", ".join(dropped))
    return session


def ort_message(exc: Exception) -> str:
    """The first line of an ONNX Runtime error without its ``[ONNXRuntimeError] : 2 : ...`` prefix."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    message = _ORT_PREFIX.sub("", lines[0]).strip() or lines[0]
    return message[:300]
