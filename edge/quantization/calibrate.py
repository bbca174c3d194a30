"""Static int8 quantization with ONNX Runtime's quantizer, calibrated on sampled frames."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edge.detection.letterbox import InputFormat, letterbox_as
from edge.errors import ConfigError, ModelError
from edge.quantization import graph

FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "percentile")
"""Not ``entropy``: through ``quantize_static`` (onnxruntime 1.32) its histogram has as many bins as
the quantized range, which leaves nothing to clip, and it produced exactly MinMax's scales."""
ACTIVATIONS = ("uint8", "uint16")


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize. The defaults are ORT's recommendation for x86 CPUs with VNNI.

    Weights are signed 8-bit. Activations are unsigned (on this project's x86 test machine QDQ
    with signed 8-bit activations ran about 3x slower than with unsigned ones).
    """

    quant_format: str = "qdq"
    """``qdq``: QuantizeLinear/DequantizeLinear pairs around float ops, fused by each execution
    provider (portable: CPU, TensorRT, OpenVINO read it). ``qoperator``: QLinear* operators written
    into the graph (CPU-oriented)."""
    per_channel: bool = True
    """One weight scale per output channel. Needed by depthwise-heavy models, whose channels have
    very different ranges; per-tensor is marginally faster and much less accurate on them."""
    calibration_method: str = "minmax"
    """``minmax`` takes each activation's observed range (fast, sensitive to outliers).
    ``percentile`` clips the rarest 0.001% using histograms: more accurate on YOLOX-Nano, but ONNX
    Runtime keeps every calibration frame's activations in memory (about 65 MB per 416x416 frame
    for YOLOX-Nano) and takes about 10x longer."""
    exclude_head: bool = False
    """Keep the detection head's output stage (:func:`graph.output_stage`) in float."""
    exclude_nodes: tuple[str, ...] = field(default_factory=tuple)
    """More node names to keep in float."""
    activations: str = "uint8"
    """``uint16`` (A16W8, QDQ only) keeps far more of a depthwise-heavy model's accuracy, but CPUs
    have no 16-bit kernels for it (it ran about 3x slower than float here); it is meant for NPUs
    and accelerators that run A16W8."""

    def __post_init__(self) -> None:
        if self.activations not in ACTIVATIONS:
            raise ConfigError(f"activations must be one of {', '.join(ACTIVATIONS)}, got {self.activations!r}")
        if self.activations == "uint16" and self.quant_format != "qdq":
            raise ConfigError("16-bit activations need the qdq format")
        if self.quant_format not in FORMATS:
            raise ConfigError(
                f"quantization format must be one of {', '.join(FORMATS)}, got {self.quant_format!r}"
            )
        if self.calibration_method not in METHODS:
            raise ConfigError(
                f"calibration method must be one of {', '.join(METHODS)}, got {self.calibration_method!r}"
            )


@dataclass(frozen=True)
class QuantizedModel:
    path: Path
    source_opset: int
    opset: int
    excluded_nodes: tuple[str, ...]
    """Nodes kept in float (``--exclude-head``, ``--exclude-node``)."""


def quantize_int8(
    model_path: Path,
    out_path: Path,
    calibration_frames: Sequence[np.ndarray],
    input_hw: tuple[int, int],
    input_format: InputFormat,
    options: QuantizeOptions,
    progress: bool = True,
) -> QuantizedModel:
    """Write an int8 version of ``model_path`` to ``out_path``.

    Steps: upgrade the opset to at least 13, ORT's pre-processing pass, then static quantization
    with activation ranges observed on ``calibration_frames`` (BGR images, letterboxed the way
    the model's family expects).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = graph.load(model_path)
    source_opset = graph.default_opset(model)
    model = graph.upgrade_opset(model, model_path)
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="edgelabel-quantize-") as work:
        processed = graph.pre_process(model, model_path, Path(work))
        prepared = graph.load(processed)
        known = {node.name for node in prepared.graph.node}
        unknown = [name for name in options.exclude_nodes if name not in known]
        if unknown:
            raise ConfigError(f"--exclude-node: no node named {', '.join(map(repr, unknown))} in {model_path}")
        excluded = list(dict.fromkeys(options.exclude_nodes))
        if options.exclude_head:
            excluded += [name for name in graph.output_stage(prepared) if name not in excluded]
        reader = _FrameReader(input_name, calibration_frames, input_hw, input_format, progress)
        try:
            quantize_static(
                str(processed),
                str(out_path),
                reader,
                quant_format=QuantFormat.QDQ if options.quant_format == "qdq" else QuantFormat.QOperator,
                per_channel=options.per_channel,
                activation_type=QuantType.QUInt16 if options.activations == "uint16" else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded or None,
                calibrate_method={
                    "minmax": CalibrationMethod.MinMax,
                    "percentile": CalibrationMethod.Percentile,
                }[options.calibration_method],
                calibration_providers=["CPUExecutionProvider"],
                # ONNX has 16-bit QuantizeLinear only from opset 21; ORT's own ops take it earlier.
                extra_options={"UseQDQContribOps": options.activations == "uint16"},
            )
        except (ConfigError, ModelError):
            raise
        except Exception as exc:
            raise ModelError(f"model {model_path}: int8 quantization failed: {str(exc).splitlines()[0]}") from None
        finally:
            reader.close()
    quantized = graph.load(out_path)
    return QuantizedModel(
        path=out_path,
        source_opset=source_opset,
        opset=graph.default_opset(quantized),
        excluded_nodes=tuple(excluded),
    )


class _FrameReader(CalibrationDataReader):
    """Letterboxed frames for ORT's calibration, with a progress bar."""

    def __init__(self, input_name, frames, input_hw, input_format, progress: bool):
        self._input_name = input_name
        self._frames = iter(frames)
        self._input_hw = input_hw
        self._input_format = input_format
        self._bar = None
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=len(frames), desc="calibrating", unit="frame", file=sys.stderr, leave=False)

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self._frames, None)
        if image is None:
            return None
        if self._bar is not None:
            self._bar.update(1)
        return {self._input_name: letterbox_as(image, self._input_hw, self._input_format).tensor}

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
