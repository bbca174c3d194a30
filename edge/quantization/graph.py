"""Prepare an ONNX graph for static quantization, and find the nodes to keep in float."""

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


def pre_process(model: onnx.ModelProto, path: Path, work_dir: Path) -> Path:
    """Run ONNX Runtime's quantization pre-processing (shape inference, graph optimisation).

    Returns the path of the processed model in ``work_dir``; every node has a name afterwards,
    since exclusion lists and reports refer to nodes by name.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    upgraded = work_dir / "upgraded.onnx"
    processed = work_dir / "preprocessed.onnx"
    onnx.save(model, str(upgraded))
    try:
        quant_pre_process(str(upgraded), str(processed))
    except ImportError as exc:
        raise ModelError(f"quantization pre-processing needs a package that is missing: {exc}") from None
    except Exception as exc:
        raise ModelError(f"model {path}: quantization pre-processing failed: {str(exc).splitlines()[0]}") from None
    named = onnx.load(str(processed))
    for index, node in enumerate(named.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"
    onnx.save(named, str(processed))
    return processed


def output_stage(model: onnx.ModelProto, last_op: str = "Conv") -> list[str]:
    """Names of the detection head's output stage: the last ``last_op`` on every path to a graph
    output, and every node after it (score activations, box decode, concatenations, NMS).

    Keeping this stage in float is the usual fix when int8 boxes drift or scores flatten: these
    few nodes carry the outputs' full dynamic range, and they are a small share of the compute.
    """
    producer = {output: node for node in model.graph.node for output in node.output}
    stage: dict[str, None] = {}
    pending = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while pending:
        tensor = pending.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        stage[node.name] = None
        if node.op_type != last_op:
            pending.extend(node.input)
    return list(stage)
