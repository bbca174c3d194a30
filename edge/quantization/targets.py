"""Where a quantized model will run, and what that means for loading, saving and running candidates.

* ``openvino``: int8 with float fallback, quantized by NNCF on OpenVINO's own model format and
  saved as OpenVINO IR (``.xml`` + ``.bin``). OpenVINO computed wrong outputs for NNCF's int8
  *ONNX* files (mAP about 0, in native OpenVINO and in onnxruntime-openvino), while models
  quantized on its own format were right: the format quantized in matters.
* ``onnxruntime``: int8 QDQ ONNX by NNCF, for ONNX Runtime's CPU provider on ARM and for its
  TensorRT provider (explicit quantization, no calibration table needed).
* ``fp16``: the float model with float16 weights and arithmetic, inputs and outputs kept float32,
  for GPU providers (CUDA, TensorRT, CoreML); CPUs gain nothing from it.

Every written model is loaded again by the agent's own detector and checked before it is kept.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edge.contract.errors import ConfigError
from edge.detection.runtimes import ONNXRUNTIME, OPENVINO, RuntimeSettings
from edge.errors import ModelError
from edge.quantization import graph

PROVENANCE_KEY = "edgelabel_quantization"
"""Metadata key of the JSON that says how a model was made (source model, target, float layers)."""


class Target(ABC):
    name: str
    runtime: str
    """The runtime the written model is for (and is checked and timed on here)."""
    suffix: str
    """What ``--out`` must end with."""
    int8: bool = True
    """Quantized by NNCF (False: converted without calibration)."""

    def runtime_settings(self, threads: int | None) -> RuntimeSettings:
        # f32 for float layers: accuracy is checked exactly as the agent runs by default.
        return RuntimeSettings(name=self.runtime, threads=threads, precision="f32")

    def check_out_path(self, out_path: Path) -> None:
        if out_path.suffix.lower() != self.suffix:
            raise ConfigError(f"--out for --target {self.name} should end in {self.suffix}, got {out_path}")

    @abstractmethod
    def load(self, model_path: Path):
        """The float model in the form the quantizer takes."""

    @abstractmethod
    def save(self, model, out_path: Path, metadata: Mapping[str, str]) -> list[Path]:
        """Write ``model`` with ``metadata`` added to its own; returns every file written."""

    @abstractmethod
    def runner(self, model_for_inference, output_names: Sequence[str], input_name: str):
        """A function running one input tensor through a candidate (as NNCF hands it to validation)."""

    @abstractmethod
    def float_layers(self, model) -> list[str]:
        """Names of the weighted layers (convolutions, matrix products) left in float."""

    def head_layers(self, model) -> list[str]:
        """The detection head's prediction layers: the last weighted layer on every path to an output."""
        return []

    def weighted_layers(self, model) -> int:
        return 0


class OpenVinoTarget(Target):
    name = "openvino"
    runtime = OPENVINO
    suffix = ".xml"

    def load(self, model_path: Path):
        from edge.detection.runtimes.ov_runtime import import_openvino

        ov = import_openvino()
        # What ov.convert_model does for an ONNX file (read, then the MOC graph simplifications:
        # SiLU fused into Swish, constants folded; 1977 operations become 614 on YOLOX-Nano), without
        # the converter tool's usage telemetry. NNCF imports the same private module.
        from openvino._offline_transformations import apply_moc_transformations

        try:
            model = ov.Core().read_model(str(model_path))
            apply_moc_transformations(model, cf=False, smart_reshape=True)
        except Exception as exc:
            raise ModelError(f"cannot load model {model_path} into OpenVINO: {str(exc).splitlines()[0]}") from None
        return model

    def save(self, model, out_path: Path, metadata: Mapping[str, str]) -> list[Path]:
        import openvino as ov

        from edge.detection.runtimes.ov_runtime import METADATA_SECTION

        for key, value in metadata.items():
            model.set_rt_info(value, [METADATA_SECTION, key])
        # Float weights stay float32: fp16 compression would change the layers kept in float.
        ov.save_model(model, str(out_path), compress_to_fp16=False)
        return [out_path, out_path.with_suffix(".bin")]

    def runner(self, model_for_inference, output_names: Sequence[str], input_name: str):
        request = model_for_inference.create_infer_request()
        ports = [model_for_inference.output(name) for name in output_names]

        def run(tensor: np.ndarray) -> list[np.ndarray]:
            results = request.infer({input_name: tensor})
            return [np.asarray(results[port]) for port in ports]

        return run

    def float_layers(self, model) -> list[str]:
        return [node.get_friendly_name() for node in _ov_weighted(model) if not _ov_weights_quantized(node)]

    def weighted_layers(self, model) -> int:
        return len(_ov_weighted(model))

    def head_layers(self, model) -> list[str]:
        found: dict[str, None] = {}
        pending = [result.input(0).get_source_output().get_node() for result in model.get_results()]
        seen: set[str] = set()
        while pending:
            node = pending.pop()
            if node.get_friendly_name() in seen:
                continue
            seen.add(node.get_friendly_name())
            if node.get_type_name() in _OV_WEIGHTED:
                found[node.get_friendly_name()] = None
                continue
            pending.extend(port.get_source_output().get_node() for port in node.inputs())
        return list(found)


class OnnxRuntimeTarget(Target):
    name = "onnxruntime"
    runtime = ONNXRUNTIME
    suffix = ".onnx"

    def load(self, model_path: Path):
        return graph.upgrade_opset(graph.load(model_path), model_path)

    def save(self, model, out_path: Path, metadata: Mapping[str, str]) -> list[Path]:
        import onnx

        _set_onnx_metadata(model, metadata)
        onnx.save(model, str(out_path))
        return [out_path]

    def runner(self, model_for_inference, output_names: Sequence[str], input_name: str):
        from edge.detection.session import CPU, open_session

        session = open_session(model_for_inference.SerializeToString(), None, [CPU])

        def run(tensor: np.ndarray) -> list[np.ndarray]:
            return session.run(list(output_names), {input_name: tensor})

        return run

    def float_layers(self, model) -> list[str]:
        producers = {output: node for node in model.graph.node for output in node.output}
        floating = []
        for node in model.graph.node:
            if node.op_type in _ONNX_WEIGHTED and len(node.input) > 1:
                weight_source = producers.get(node.input[1])
                if weight_source is None or weight_source.op_type != "DequantizeLinear":
                    floating.append(node.name)
        return floating

    def weighted_layers(self, model) -> int:
        return sum(node.op_type in _ONNX_WEIGHTED and len(node.input) > 1 for node in model.graph.node)

    def head_layers(self, model) -> list[str]:
        producers = {output: node for node in model.graph.node for output in node.output}
        found: dict[str, None] = {}
        pending = [output.name for output in model.graph.output]
        seen: set[str] = set()
        while pending:
            node = producers.get(pending.pop())
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type in _ONNX_WEIGHTED and len(node.input) > 1:
                found[node.name] = None
                continue
            pending.extend(node.input)
        return list(found)


class Fp16Target(OnnxRuntimeTarget):
    name = "fp16"
    int8 = False

    def load(self, model_path: Path):
        return graph.load(model_path)

    def convert(self, model):
        """float16 weights and arithmetic; float32 inputs and outputs, so the detector is unchanged."""
        from onnxruntime.transformers.float16 import convert_float_to_float16

        try:
            return convert_float_to_float16(model, keep_io_types=True)
        except Exception as exc:
            raise ModelError(f"float16 conversion failed: {str(exc).splitlines()[0]}") from None

    def float_layers(self, model) -> list[str]:
        return []


TARGETS: dict[str, type[Target]] = {t.name: t for t in (OpenVinoTarget, OnnxRuntimeTarget, Fp16Target)}


def target_named(name: str) -> Target:
    try:
        return TARGETS[name]()
    except KeyError:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {name!r}") from None


def provenance(**fields) -> dict[str, str]:
    """The metadata entry recording how a model was made."""
    return {PROVENANCE_KEY: json.dumps(fields, sort_keys=True)}


_ONNX_WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_OV_WEIGHTED = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")


def _ov_weighted(model) -> list:
    return [node for node in model.get_ordered_ops() if node.get_type_name() in _OV_WEIGHTED]


def _ov_weights_quantized(node) -> bool:
    """True if the layer's weights pass through a FakeQuantize or are stored as 8-bit (or smaller)
    integers, the two forms NNCF leaves them in."""
    source = node.input(1).get_source_output().get_node()
    for _ in range(6):  # Reshape / Convert / Subtract / Multiply between the weights and the layer
        kind = source.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant":
            return source.get_element_type().get_type_name() in ("i8", "u8", "i4", "u4")
        if source.get_input_size() == 0:
            return False
        source = source.input(0).get_source_output().get_node()
    return False


def _set_onnx_metadata(model, metadata: Mapping[str, str]) -> None:
    existing = {prop.key: prop for prop in model.metadata_props}
    for key, value in metadata.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)

