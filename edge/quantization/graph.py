"""Load an ONNX graph for quantization, and upgrade its opset where quantized operators need it."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
from onnx import version_converter

from edge.errors import ModelError

log = logging.getLogger("edge.quantize")

MIN_OPSET = 13
"""Per-channel QuantizeLinear/DequantizeLinear (the ``axis`` attribute) needs opset 13."""


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def load(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, OSError: one line either way
        raise ModelError(
            f"cannot load model {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def upgrade_opset(model: onnx.ModelProto, path: Path, target: int = MIN_OPSET) -> onnx.ModelProto:
    """``model`` converted to opset ``target`` if it is older; unchanged otherwise."""
    current = default_opset(model)
    if current >= target:
        return model
    try:
        upgraded = version_converter.convert_version(model, target)
    except Exception as exc:  # the converter raises RuntimeError or its own C++ errors
        raise ModelError(
            f"model {path}: cannot upgrade opset {current} to {target} for quantization: {str(exc).splitlines()[0]}"
        ) from None
    log.info("model %s: opset %d upgraded to %d", path, current, target)
    return upgraded
