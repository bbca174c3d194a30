"""Accuracy-aware int8 with NNCF: quantize everything, then put the most harmful layers back in float.

NNCF (Intel's Neural Network Compression Framework) does the work: post-training quantization
calibrated on frames of the camera's footage, then, when the candidate misses the accuracy
budget, a sensitivity ranking of its quantized layers (each one reverted to float in turn and the
metric measured on a subset of the held-out images) and the reversion of the worst ones until the
budget is met. This module is the glue: datasets, the metric as NNCF's validation function, and
the options. On YOLOX-Nano, the stem convolutions and the head carried most of the int8 error in
our measurements; the head stays in float from the start (``Int8Settings.head_in_float``).

NNCF is imported here only, with its usage telemetry switched off (see :func:`import_nncf`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.contract.errors import ConfigError
from edge.detection.letterbox import InputFormat, letterbox_as
from edge.detection.runtimes import OPENVINO
from edge.errors import ModelError
from edge.quantization.accuracy import AccuracyMetric
from edge.quantization.targets import Target

log = logging.getLogger("edge.quantize")

PRESETS = ("performance", "mixed")
"""``performance``: symmetric int8 weights and activations, the fastest on CPUs (VNNI, AMX) and what
TensorRT expects. ``mixed``: asymmetric activations, a little more accurate on activations that
are not centred on zero (after SiLU), a little slower."""


@dataclass(frozen=True)
class Int8Settings:
    preset: str = "performance"
    max_float_layers: int | None = None
    """Most layers accuracy control may put back in float; None: as many as the budget needs,
    0: none (every layer int8, no accuracy control)."""
    keep_float: tuple[str, ...] = field(default_factory=tuple)
    """Layers to keep in float from the start (names as the report lists them)."""
    head_in_float: bool = True
    """Keep the detection head's prediction layers in float from the start: they carry the
    outputs' full range (box sizes, scores) and are a small share of the work. On YOLOX-Nano,
    head and stem in float kept COCO128 within a point where everything int8 lost about two."""
    ranking_frames: int = 50
    """Held-out images each layer's sensitivity is measured on. Fewer rank faster and noisier."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.max_float_layers is not None and self.max_float_layers < 0:
            raise ConfigError(f"--max-float-layers must be >= 0, got {self.max_float_layers}")
        if self.ranking_frames < 1:
            raise ConfigError(f"--ranking-frames must be at least 1, got {self.ranking_frames}")


def import_nncf(verbose: bool = False):
    """NNCF, or a ModelError naming the extra to install.

    NNCF sends usage telemetry to Google Analytics unless the user opted out; a labeling tool for
    surveillance footage must not phone home, so it is switched off the way NNCF's own CI does
    (``NNCF_CI``, read once at import, selects its no-op telemetry).
    """
    os.environ.setdefault("NNCF_CI", "1")
    try:
        import nncf
    except ImportError:
        raise ModelError("int8 quantization needs NNCF: pip install 'edgelabel[quantize]'") from None
    nncf.set_log_level(logging.INFO if verbose else logging.WARNING)
    return nncf


def quantize_int8(
    target: Target,
    model,
    calibration_frames: Sequence[np.ndarray],
    input_name: str,
    input_hw: tuple[int, int],
    input_format: InputFormat,
    output_names: Sequence[str],
    metric: AccuracyMetric,
    max_drop: float,
    settings: Int8Settings,
    verbose: bool = False,
    progress: bool = True,
):
    """The int8 model (target's form) closest to float that NNCF finds within ``max_drop`` of
    ``metric`` (absolute, 0..1), or the fully quantized model when ``settings.max_float_layers`` is 0.

    NNCF returns its best attempt when the budget cannot be met; the caller checks the result.
    """
    nncf = import_nncf(verbose)
    single_input = target.runtime == OPENVINO  # NNCF's OpenVINO backend takes the bare tensor

    def calibration_item(image: np.ndarray):
        tensor = letterbox_as(image, input_hw, input_format).tensor
        return tensor if single_input else {input_name: tensor}

    calibration = nncf.Dataset(list(calibration_frames), calibration_item)
    preset = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}[settings.preset]
    keep = list(dict.fromkeys([*settings.keep_float, *(target.head_layers(model) if settings.head_in_float else [])]))
    ignored = nncf.IgnoredScope(names=keep) if keep else None
    common = {"preset": preset, "subset_size": len(calibration_frames), "target_device": nncf.TargetDevice.ANY}
    if ignored is not None:
        common["ignored_scope"] = ignored
    # NNCF draws its progress bars with rich on stdout; they belong on stderr (stdout may be piped).
    with contextlib.redirect_stdout(sys.stderr if progress else io.StringIO()):
        return _run_nncf(nncf, target, model, calibration, input_name, output_names, metric, max_drop, settings, common)


def _run_nncf(nncf, target, model, calibration, input_name, output_names, metric, max_drop, settings, common):
    try:
        if settings.max_float_layers == 0:
            return nncf.quantize(model, calibration, **common)
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        def validate(model_for_inference, items) -> float:
            run = target.runner(model_for_inference, output_names, input_name)
            return metric.score(run, [int(i) for i in items])

        restorer = AdvancedAccuracyRestorerParameters(
            max_num_iterations=settings.max_float_layers if settings.max_float_layers is not None else sys.maxsize,
            ranking_subset_size=min(settings.ranking_frames, metric.items),
        )
        return nncf.quantize_with_accuracy_control(
            model, calibration, nncf.Dataset(list(range(metric.items))), validation_fn=validate,
            max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
            advanced_accuracy_restorer_parameters=restorer, **common,
        )  # fmt: skip
    except nncf.ValidationError as exc:  # e.g. an ignored-scope name that is not in the graph
        raise ConfigError(f"--keep-float: {str(exc).splitlines()[0]}") from None
    except (ConfigError, ModelError):
        raise
    except Exception as exc:
        raise ModelError(f"int8 quantization failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
