"""One quantization from start to verdict: sample frames, quantize, reload, measure, judge, write.

The stages, in order:

1. the float32 model on ONNX Runtime's CPU provider (today's default) is the reference;
2. frames are sampled from the calibration sources: most calibrate, the rest are held out;
3. the accuracy metrics are set up: agreement with float32 on the held-out frames, and mAP on the
   labeled set when ``--eval`` gives one (that one then controls the budget);
4. the target quantizes (NNCF with accuracy control) or converts (fp16) the model;
5. the candidate is written under ``--out``'s file name in a temporary directory beside it (so its
   model id is the written file's) and loaded again by the agent's own detector on
   the target runtime; its accuracy and speed are measured there, beside float32, in one run;
6. the verdict: within ``--max-loss`` or not; the candidate replaces ``--out`` only if it passed
   (or with ``force``), and the report is written either way.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.config import SCORE_THRESHOLD
from edge.contract.errors import ConfigError
from edge.detection.model_file import OPENVINO_IR, model_format
from edge.detection.runner import Detector
from edge.detection.runtimes import ONNXRUNTIME, RuntimeSettings
from edge.evaluation.labeled import load_labeled_set
from edge.quantization.accuracy import (
    PREDICTION_SCORE_THRESHOLD,
    AgreementMetric,
    LabeledMetric,
    evaluation_settings,
)
from edge.quantization.frames import sample_frames
from edge.quantization.latency import latencies
from edge.quantization.mixed_precision import Int8Settings, quantize_int8
from edge.quantization.report import Row, Verdict, judge, row_dict, versions
from edge.quantization.targets import Target, provenance

log = logging.getLogger("edge.quantize")

TIMING_TENSORS = 8
"""Held-out frames the timing cycles through (the same ones for every contender)."""


@dataclass(frozen=True)
class Request:
    model_path: Path
    sources: Sequence[str]
    out_path: Path
    target: Target
    max_loss: float
    """Points (0-100) of the controlling metric the candidate may lose against float32."""
    calibration_frames: int = 300
    eval_frames: int = 100
    max_frames_read: int = 20000
    eval_set: str | None = None
    eval_images: int | None = None
    threads: int | None = 2
    timing_runs: int = 50
    score_threshold: float = SCORE_THRESHOLD
    int8: Int8Settings = Int8Settings()
    class_names: Sequence[str] | None = None
    layout: str | None = None
    force: bool = False
    progress: bool = True
    verbose: bool = False


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    verdict: Verdict
    written: bool
    report: dict


def quantize(request: Request) -> Outcome:
    if model_format(request.model_path) == OPENVINO_IR:
        raise ConfigError(f"--model {request.model_path}: quantize takes a float ONNX model, not OpenVINO IR")
    target = request.target
    target.check_out_path(request.out_path)
    if request.out_path.resolve() == request.model_path.resolve():
        raise ConfigError("--out must not be the input model")
    reference = _float_detector(request, score_threshold=request.score_threshold)
    frames = sample_frames(
        request.sources, request.calibration_frames, request.eval_frames, request.max_frames_read,
        fit_hw=reference.input_hw, progress=request.progress,
    )  # fmt: skip
    log.info("%s: %d frames read, %d for calibration, %d held out",
             frames.description, frames.frames_read, len(frames.calibration), len(frames.held_out))
    agreement, labeled = _metrics(request, reference, frames)
    control = labeled or agreement

    model = target.load(request.model_path)
    weighted = target.weighted_layers(model)
    if target.int8:
        candidate_model = quantize_int8(
            target, model, frames.calibration, reference.input_name, reference.input_hw, reference.input_format,
            reference.head_output_names, control, request.max_loss / 100.0, request.int8,
            verbose=request.verbose, progress=request.progress,
        )  # fmt: skip
    else:
        candidate_model = target.convert(model)
    float_layers = target.float_layers(candidate_model)
    kind = "int8" if target.int8 else "fp16"
    metadata = provenance(source_model=reference.model_id, target=target.name, kind=kind, float_layers=float_layers,
                          calibration=frames.description, calibration_frames=len(frames.calibration))
    if request.class_names is not None:
        metadata["names"] = repr(dict(enumerate(request.class_names)))

    request.out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=request.out_path.parent, prefix=f".{request.out_path.stem}.") as work:
        staged = Path(work) / request.out_path.name
        staged_files = target.save(candidate_model, staged, metadata)
        # Staged under --out's own file name (in a hidden directory beside it), so the candidate's model
        # id, from its file name and bytes, is the id of the file written: never a temporary name.
        candidate = Detector(staged, threads=request.threads, runtime=target.runtime_settings(request.threads),
                             class_names=reference.class_names, layout=reference.layout,
                             score_threshold=PREDICTION_SCORE_THRESHOLD)
        rows, verdict, per_class = _measure(request, reference, candidate, agreement, labeled, kind)
        written = verdict.accepted or request.force
        if written:
            for file in staged_files:
                os.replace(file, request.out_path.with_suffix(file.suffix))
    report = {
        "model": str(request.model_path),
        "out": str(request.out_path),
        "model_id": candidate.model_id,
        "written": written,
        "accepted": verdict.accepted,
        "reason": verdict.reason,
        "warnings": verdict.warnings,
        "target": target.name,
        "runtime": target.runtime,
        "kind": kind,
        "layout": reference.layout,
        "sources": list(request.sources),
        "frames_read": frames.frames_read,
        "calibration_frames": len(frames.calibration),
        "held_out_frames": len(frames.held_out),
        "accuracy": {
            "controlling_metric": control.name,
            "max_loss_points": request.max_loss,
            "loss_points": round(verdict.loss_points, 3),
            "agreement_metric": agreement.name,
            "reference_score_threshold": request.score_threshold,
            "reference_boxes": agreement.reference_boxes,
            "agreement_per_class": {name: {"ap50": round(c.ap50, 4), "reference_boxes": c.reference_boxes}
                                    for name, c in per_class.items()},
            "labeled_metric": labeled.name if labeled else None,
        },
        "layers": {"weighted": weighted, "float": float_layers, "preset": request.int8.preset if target.int8 else None},
        "speedup_vs_float32_onnxruntime": None if verdict.speedup is None else round(verdict.speedup, 3),
        "threads": request.threads,
        "rows": [row_dict(row) for row in rows],
        "versions": versions(),
    }
    return Outcome(rows, verdict, written, report)


def _float_detector(request: Request, runtime: RuntimeSettings | None = None, **settings) -> Detector:
    """The float model (default: on ONNX Runtime's CPU provider, today's default)."""
    runtime = runtime or RuntimeSettings(name=ONNXRUNTIME, threads=request.threads)
    return Detector(request.model_path, threads=request.threads, runtime=runtime, class_names=request.class_names,
                    layout=request.layout, **settings)


def _metrics(request: Request, reference: Detector, frames) -> tuple[AgreementMetric, LabeledMetric | None]:
    agreement = AgreementMetric(
        _float_detector(request, score_threshold=request.score_threshold * AgreementMetric.NEAR_MISS_FRACTION),
        _float_detector(request, score_threshold=PREDICTION_SCORE_THRESHOLD),
        frames.held_out, frames.description, request.score_threshold,
    )  # fmt: skip
    if request.eval_set is None:
        return agreement, None
    labeled_set = load_labeled_set(request.eval_set, reference.class_names, limit=request.eval_images)
    if labeled_set.dropped_boxes:
        log.info("--eval: left out %s", ", ".join(f"{n} ({why})" for why, n in labeled_set.dropped_boxes.items()))
    return agreement, LabeledMetric(_float_detector(request, **evaluation_settings()), labeled_set)


def _measure(request, reference, candidate, agreement, labeled, kind):
    """Rows for float32, float32 on the target runtime (timed only) and the candidate; the verdict;
    the candidate's agreement per class."""
    contenders = [(f"float32 {reference.runtime.tag}", reference)]
    if candidate.runtime.name != reference.runtime.name:
        same_runtime = _float_detector(request, runtime=request.target.runtime_settings(request.threads))
        contenders.append((f"float32 {same_runtime.runtime.tag}", same_runtime))
    contenders.append((f"{kind} {candidate.runtime.tag}", candidate))
    tensors = [reference.preprocess(frame).tensor for frame in agreement.frames[:TIMING_TENSORS]]
    timings = latencies(contenders, tensors, request.timing_runs)

    scores: dict[str, dict] = {}
    per_class = {}
    for label, detector in (contenders[0], contenders[-1]):
        run = detector.infer
        agreed, per_class = agreement.evaluate(run)
        scores[label] = {"agreement": agreed}
        if labeled is not None:
            evaluated = labeled.evaluate(run)
            scores[label].update(map=evaluated.map, ap50=evaluated.ap50)
    rows = [Row(label, timing, **scores.get(label, {})) for (label, _), timing in zip(contenders, timings)]
    key, control = ("map", labeled) if labeled is not None else ("agreement", agreement)
    float_score = scores[contenders[0][0]][key] or 0.0
    candidate_score = scores[contenders[-1][0]][key] or 0.0
    verdict = judge(control.name, float_score, candidate_score, request.max_loss, timings[0], timings[-1])
    return rows, verdict, per_class
