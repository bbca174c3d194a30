"""The verdict on an int8 model, as a printed table and a JSON report saved beside it."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from edge.quantization.calibrate import QuantizedModel, QuantizeOptions
from edge.quantization.compare import Agreement, Latency


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    """One line saying why (shown to the user, stored in the report)."""


def judge(
    agreement: Agreement, latency: Latency, min_agreement: float, min_speedup: float, score_threshold: float
) -> Verdict:
    """Accept the int8 model only if it agrees with the float model at least ``min_agreement``
    and runs at least ``min_speedup`` times as fast (0 turns the speed check off)."""
    problems = []
    if agreement.map50 is None:
        problems.append(
            f"the float model finds no class {agreement.min_class_boxes} or more times at score >= "
            f"{score_threshold} on the {agreement.frames} held-out frames, so agreement cannot be judged "
            f"(use footage with objects in it, or more --eval-frames)"
        )
    elif agreement.map50 < min_agreement:
        problems.append(
            f"agreement mAP@0.5 {agreement.map50:.3f} with the float model is below {min_agreement:.3f}"
        )
    if latency.speedup < min_speedup:
        problems.append(
            f"int8 runs {latency.speedup:.2f}x the speed of float here ({latency.int8_ms:.1f} vs "
            f"{latency.float_ms:.1f} ms), below --min-speedup {min_speedup:g}"
        )
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(
        True, f"agreement mAP@0.5 {agreement.map50:.3f} >= {min_agreement:.3f}, speedup {latency.speedup:.2f}x"
    )


def report_path(out_path: Path) -> Path:
    """``model.int8.onnx`` -> ``model.int8.report.json``, in the same directory."""
    return out_path.with_name(f"{out_path.stem}.report.json")


def build_report(
    *,
    model_path: Path,
    out_path: Path,
    source: str,
    frames_read: int,
    calibration_frames: int,
    options: QuantizeOptions,
    quantized: QuantizedModel,
    agreement: Agreement,
    latency: Latency,
    score_threshold: float,
    min_agreement: float,
    min_speedup: float,
    verdict: Verdict,
    written: bool,
    layout: str,
) -> dict:
    import onnxruntime

    return {
        "model": str(model_path),
        "out": str(out_path),
        "written": written,
        "accepted": verdict.accepted,
        "reason": verdict.reason,
        "layout": layout,
        "source": source,
        "frames_read": frames_read,
        "calibration_frames": calibration_frames,
        "held_out_frames": agreement.frames,
        "quantization": {
            "format": options.quant_format,
            "per_channel": options.per_channel,
            "calibration_method": options.calibration_method,
            "activations": options.activations,
            "weights": "int8",
            "opset": [quantized.source_opset, quantized.opset],
            "excluded_nodes": list(quantized.excluded_nodes),
        },
        "agreement": {
            "map50": _rounded(agreement.map50),
            "map50_all_classes": _rounded(agreement.map50_all_classes),
            "min_map50": min_agreement,
            "min_class_boxes": agreement.min_class_boxes,
            "reference_score_threshold": score_threshold,
            "reference_boxes": agreement.reference_boxes,
            "per_class": {
                name: {"ap50": round(c.ap50, 4), "reference_boxes": c.reference_boxes, "judged": c.judged}
                for name, c in agreement.per_class.items()
            },
        },
        "latency": {
            "float_ms_median": round(latency.float_ms, 3),
            "int8_ms_median": round(latency.int8_ms, 3),
            "speedup": round(latency.speedup, 3),
            "min_speedup": min_speedup,
            "threads": latency.threads,
            "runs": latency.runs,
            "provider": "CPUExecutionProvider",
            "onnxruntime": onnxruntime.__version__,
            "machine": platform.machine(),
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def write_report(path: Path, report: dict) -> None:
    """Write atomically, so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)


def table(report: dict) -> str:
    """The comparison as a few aligned lines for the terminal."""
    quant = report["quantization"]
    agreement, latency = report["agreement"], report["latency"]
    precision = "int8" if quant["activations"] == "uint8" else "a16w8"
    weights = "per-channel" if quant["per_channel"] else "per-tensor"
    label = f"{precision} {quant['format']} {weights} {quant['calibration_method']}"
    if quant["excluded_nodes"]:
        label += f" ({len(quant['excluded_nodes'])} nodes float)"
    map50 = "n/a" if agreement["map50"] is None else f"{agreement['map50']:.3f}"
    width = max(len(label), 7)
    judged = [
        f"{name} {c['ap50']:.3f} ({c['reference_boxes']})"
        for name, c in agreement["per_class"].items()
        if c["judged"]
    ]
    rare = [name for name, c in agreement["per_class"].items() if not c["judged"]]
    lines = [
        f"{'model':<{width}}  {'ms/frame':>8}  {'speedup':>7}  {'agreement mAP@0.5':>17}",
        f"{'float32':<{width}}  {latency['float_ms_median']:>8.2f}  {1.0:>6.2f}x  {'reference':>17}",
        f"{label:<{width}}  {latency['int8_ms_median']:>8.2f}  {latency['speedup']:>6.2f}x  {map50:>17}",
        f"held out {report['held_out_frames']} of {report['frames_read']} frames read, "
        f"{agreement['reference_boxes']} reference boxes at score >= {agreement['reference_score_threshold']}; "
        f"median of {latency['runs']} runs, {latency['threads']} threads, CPU",
        "per class AP50 (reference boxes): " + (", ".join(judged) or "none judged"),
    ]
    if rare:
        lines.append(
            f"not judged (fewer than {agreement['min_class_boxes']} reference boxes): {', '.join(rare)}; "
            f"mAP@0.5 over all classes {agreement['map50_all_classes']:.3f}"
        )
    return "\n".join(lines)
