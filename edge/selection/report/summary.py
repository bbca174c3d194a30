"""The summary of a sample run and ``index.html``, the page that ties the report's files together."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from edge.selection.report.sink import FRAMES_DIR, INDEX_FILE, KEPT_FILE, SUMMARY_FILE, TIMELINE_FILE, ReportSink


def summarize(rows: Sequence[dict], counts, sink: ReportSink, source: str, seconds: float) -> dict:
    """The numbers a person tuning the selector wants first."""
    duration = rows[-1]["source_ts"] - rows[0]["source_ts"] if len(rows) > 1 else 0.0
    per_hour = 3600.0 / duration if duration > 0 else 0.0
    return {
        "source": source,
        "frames": len(rows),
        "duration_s": round(duration, 2),
        "kept": sink.kept,
        "kept_per_minute": round(sink.kept * per_hour / 60, 2),
        "jpeg_megabytes_per_hour": round(sink.jpeg_bytes * per_hour / 1e6, 2),
        "kept_by_reason": dict(Counter(r for row in rows if row["keep"] for r in row["reasons"])),
        "rejected_by_flaw": dict(counts.rejected),
        "overruled_by": dict(counts.overruled),
        # The coverage selector's: objects that left before a kept frame showed them, and those
        # shown; why kept frames were committed when they were; the most its look-ahead held.
        **({"missed_tracks": counts.missed_tracks, "captured_tracks": counts.captured_tracks,
            "committed_on": dict(counts.committed_on), "held_peak": counts.held_peak,
            "held_megabytes_peak": round(counts.held_bytes_peak / 1e6, 3)} if hasattr(counts, "missed_tracks") else {}),
        "seconds": round(seconds, 2),
    }


def write_index(directory: Path, summary: dict, sheets: Sequence[str], has_timeline: bool, frames_saved: bool) -> None:
    """``index.html``: the summary, the timeline, the contact sheets and links to the data."""
    def table(mapping: dict, by_count: bool = True) -> str:
        if not mapping:
            return "<p>none</p>"
        items = sorted(mapping.items(), key=lambda kv: -kv[1]) if by_count else mapping.items()
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in items)
        return f"<table>{rows}</table>"

    plain = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    parts = [
        "<!doctype html><meta charset='utf-8'><title>edgelabel sample report</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}td{padding:2px 10px;border-bottom:1px solid #ddd}"
        "img{max-width:100%;border:1px solid #ccc;margin:4px 0}.cols{display:flex;gap:3em}</style>",
        f"<h1>Keyframe selection on {html.escape(str(summary['source']))}</h1>",
        table(plain, by_count=False),
        "<div class='cols'>",
        f"<div><h3>kept, by reason</h3>{table(summary['kept_by_reason'])}</div>",
        f"<div><h3>rejected frames, by flaw</h3>{table(summary['rejected_by_flaw'])}</div>",
        f"<div><h3>requests overruled, by bound</h3>{table(summary['overruled_by'])}</div>",
        *([f"<div><h3>kept frames, committed when</h3>{table(summary['committed_on'])}</div>"]
          if "committed_on" in summary else []),
        "</div>",
        f"<p>Data: <a href='{KEPT_FILE}'>{KEPT_FILE}</a> (one JSON line per kept frame), "
        f"<a href='{SUMMARY_FILE}'>{SUMMARY_FILE}</a>"
        + (f", <a href='{FRAMES_DIR}/'>{FRAMES_DIR}/</a> (the JPEGs the uplink would send)" if frames_saved else "")
        + ".</p>",
    ]
    if has_timeline:
        parts += ["<h2>Timeline</h2>", f"<img src='{TIMELINE_FILE}' alt='signals and decisions over time'>"]
    parts.append(f"<h2>Kept frames ({summary['kept']})</h2>")
    parts += [f"<img src='{name}' alt='contact sheet {i}'>" for i, name in enumerate(sheets, start=1)]
    (directory / INDEX_FILE).write_text("\n".join(parts) + "\n", encoding="utf-8")
