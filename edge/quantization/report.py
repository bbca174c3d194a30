"""The verdict on a quantized model: accuracy against the budget, speed against float32, as a
printed table and a JSON report saved beside the model."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

from edge.contract.files import atomic_write_text
from edge.quantization.latency import Timing


@dataclass(frozen=True)
class Row:
    """One way of running the model, with what was measured of it."""

    label: str
    timing: Timing | None = None
    agreement: float | None = None
    """Agreement AP50 with float32 on held-out frames (float32 itself: 1.0)."""
    map: float | None = None
    """mAP@[.5:.95] on the labeled set, when one was given."""
    ap50: float | None = None


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    """One line saying why (shown to the user, stored in the report)."""
    loss_points: float
    """Points of the controlling metric the candidate lost against float32 (negative: gained)."""
    speedup: float | None
    """float32 onnxruntime time over the candidate's (above 1: the candidate is faster here)."""
    warnings: list[str] = field(default_factory=list)


def judge(metric_name: str, float_score: float, candidate_score: float, max_loss: float,
          reference: Timing | None, candidate: Timing | None) -> Verdict:
    """Accept the candidate if it loses at most ``max_loss`` points of the metric.

    Speed is reported, not required: the model may be meant for another device (ARM, a Jetson)
    where int8 pays; here a slower model gets a plain warning.
    """
    loss = (float_score - candidate_score) * 100.0
    speedup = reference.median_ms / candidate.median_ms if reference and candidate else None
    warnings = []
    if speedup is not None and speedup < 1.0:
        warnings.append(
            f"not faster than float32 on this machine: {candidate.median_ms:.2f} against {reference.median_ms:.2f} "
            f"ms per inference ({speedup:.2f}x); time it on the device it is for"
        )
    if loss <= max_loss:
        return Verdict(True, f"{metric_name}: {candidate_score:.4f} against float32's {float_score:.4f}, "
                             f"a loss of {loss:.2f} points within the budget of {max_loss:g}", loss, speedup, warnings)
    return Verdict(False, f"{metric_name}: {candidate_score:.4f} against float32's {float_score:.4f}, "
                          f"a loss of {loss:.2f} points, over the budget of {max_loss:g} (--max-loss)",
                   loss, speedup, warnings)


def report_path(out_path: Path) -> Path:
    """``model.int8.xml`` -> ``model.int8.report.json``, in the same directory."""
    return out_path.with_name(f"{out_path.stem}.report.json")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "machine": platform.machine()}
    for module in ("onnxruntime", "openvino", "nncf", "onnx", "numpy"):
        try:
            imported = __import__(module)
            found[module] = str(getattr(imported, "__version__", None) or imported.get_version())
        except Exception:  # not installed, or no version attribute: leave it out
            continue
    return found


def write_report(path: Path, report: dict) -> None:
    """Write atomically, so a reader never sees half a report."""
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")


def row_dict(row: Row) -> dict:
    return {
        "label": row.label,
        "runtime": row.timing.runtime if row.timing else None,
        "ms_median": _round(row.timing.median_ms if row.timing else None, 3),
        "timed_runs": row.timing.runs if row.timing else None,
        "agreement_ap50": _round(row.agreement),
        "map": _round(row.map),
        "ap50": _round(row.ap50),
    }


def table(rows: list[Row], reference_ms: float | None, labeled: bool) -> str:
    """The rows as aligned lines for the terminal; speed-up against ``reference_ms``."""
    width = max(len(row.label) for row in rows)
    header = f"{'model':<{width}}  {'ms/frame':>8}  {'speed-up':>8}  {'agreement AP50':>14}"
    if labeled:
        header += f"  {'mAP@[.5:.95]':>12}  {'AP50':>6}"
    lines = [header]
    for row in rows:
        ms = f"{row.timing.median_ms:8.2f}" if row.timing else f"{'-':>8}"
        speedup = f"{reference_ms / row.timing.median_ms:7.2f}x" if row.timing and reference_ms else f"{'-':>8}"
        line = f"{row.label:<{width}}  {ms}  {speedup}  {_cell(row.agreement, 14)}"
        if labeled:
            line += f"  {_cell(row.map, 12)}  {_cell(row.ap50, 6)}"
        lines.append(line)
    return "\n".join(lines)


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.4f}" if value is not None else f"{'-':>{width}}"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
