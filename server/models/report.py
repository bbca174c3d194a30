"""The evaluation as files: ``summary.json`` and ``index.html`` with per-class bars and the frames
where the two models differ most (each with the reviewers' boxes and both models' kept boxes)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from server.models.evaluation import Evaluation

_METRICS = (("precision", "precision"), ("recall", "recall"), ("ap50", "AP@0.5"), ("map", "mAP@[.5:.95]"))
_COLOURS = {"human": "#2a9d4a", "candidate": "#1f6fd1", "baseline": "#e07b00"}


def write_report(evaluation: Evaluation, directory: Path) -> Path:
    """Write ``directory/summary.json`` and ``directory/index.html``; the frames' images must already
    be in ``directory/frames/`` (``evaluate(work_dir=...)``). Returns the page's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = evaluation.to_json()
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    page = directory / "index.html"
    page.write_text(_page(evaluation, summary), encoding="utf-8")
    return page


def _page(evaluation: Evaluation, summary: dict) -> str:
    candidate, baseline = evaluation.candidate, evaluation.baseline
    title = f"{candidate.model}" + (f" vs {baseline.model}" if baseline else "")
    parts = [f"<!doctype html><meta charset='utf-8'><title>models evaluate: {html.escape(title)}</title>",
             "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;"
             "text-align:left}.bar{height:9px;display:block;margin:1px 0}.frame{display:inline-block;margin:8px;"
             "vertical-align:top}svg{max-width:480px}</style>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(evaluation.frames)} verified frames; boxes kept at score &ge; "
             f"{candidate.overall['operating_threshold']} count for precision and recall; IoU 0.5. "
             f"<span style='color:{_COLOURS['candidate']}'>&#9632; {html.escape(candidate.model)}</span>"
             + (f" <span style='color:{_COLOURS['baseline']}'>&#9632; {html.escape(baseline.model)}</span>"
                if baseline else "") + "</p>",
             "<h2>Overall</h2>", _table([("all classes", candidate.overall, baseline.overall if baseline else None)]),
             "<h2>Per class</h2>",
             _table([(name, candidate.per_class[name], baseline.per_class[name] if baseline else None)
                     for name in evaluation.classes])]
    differing = summary["differing_frames"]
    parts.append("<h2>Frames where the models differ most</h2>" if baseline else
                 "<h2>Frames the model gets most wrong</h2>")
    parts.append(f"<p><span style='color:{_COLOURS['human']}'>&#9632; reviewers' boxes</span></p>")
    frames = {frame.id: frame for frame in evaluation.frames}
    for row in differing:
        parts.append(_frame(evaluation, frames[row["frame_id"]], row))
    if not differing:
        parts.append("<p>none: both models make the same number of mistakes on every frame</p>")
    return "\n".join(parts) + "\n"


def _table(rows) -> str:
    out = ["<table><tr><th>class</th>" + "".join(f"<th>{label}</th>" for _, label in _METRICS)
           + "<th>tp / fp / fn</th></tr>"]
    for name, mine, other in rows:
        cells = []
        for key, _ in _METRICS:
            cell = _bar(mine.get(key), "candidate")
            if other is not None:
                cell += _bar(other.get(key), "baseline")
            cells.append(f"<td style='width:140px'>{cell}</td>")
        counts = f"{mine['tp']} / {mine['fp']} / {mine['fn']}"
        if other is not None:
            counts += f"<br>{other['tp']} / {other['fp']} / {other['fn']}"
        out.append(f"<tr><td>{html.escape(name)}</td>{''.join(cells)}<td>{counts}</td></tr>")
    return "\n".join(out) + "</table>"


def _bar(value: float | None, who: str) -> str:
    if value is None:
        return "<small>n/a</small><br>"
    return (f"<span class='bar' style='width:{value * 100:.1f}%;background:{_COLOURS[who]}'></span>"
            f"<small>{value:.3f}</small><br>")


def _frame(evaluation: Evaluation, frame, row: dict) -> str:
    shapes = [_rect(xyxy, "human", 3) for xyxy, _ in frame.boxes]
    for who, score in (("candidate", evaluation.candidate), ("baseline", evaluation.baseline)):
        if score is not None:
            shapes += [_rect(p.xyxy, who, 2, f"{p.class_name} {p.score:.2f}")
                       for p in evaluation.predictions[score.model].get(frame.id, [])]
    counts = f"candidate tp/fp/fn {row['candidate']['tp']}/{row['candidate']['fp']}/{row['candidate']['fn']}"
    if row["baseline"]:
        counts += f", baseline {row['baseline']['tp']}/{row['baseline']['fp']}/{row['baseline']['fn']}"
    return (f"<div class='frame'><svg viewBox='0 0 {frame.width} {frame.height}' width='{frame.width}'>"
            f"<image href='frames/{frame.id}.jpg' width='{frame.width}' height='{frame.height}'/>{''.join(shapes)}"
            f"</svg><br>frame {frame.id} ({html.escape(frame.device)}): {counts}</div>")


def _rect(xyxy, who: str, width: int, label: str = "") -> str:
    x1, y1, x2, y2 = xyxy
    title = f"<title>{html.escape(label)}</title>" if label else ""
    return (f"<rect x='{x1:.1f}' y='{y1:.1f}' width='{x2 - x1:.1f}' height='{y2 - y1:.1f}' fill='none' "
            f"stroke='{_COLOURS[who]}' stroke-width='{width}'>{title}</rect>")
