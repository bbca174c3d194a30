"""What ``edgelabel-agent sample`` writes: the selector's choices on a source, for a person to look at.

* :class:`RecordingSelector` wraps a selector and notes every decision (for the timeline);
* :class:`ReportSink` is the pipeline's sink instead of the uplink: for each kept frame it writes
  a JSON line (and, if asked, the JPEG the uplink would have sent) and keeps a contact-sheet cell;
* :func:`write_index` ties the files together in ``index.html``.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from edge.frame_detections import Detections
from edge.selection.contact_sheet import contact_sheets, draw_cell
from edge.selection.core import Decision
from edge.sources import Frame
from edge.uplink import Keyframe

KEPT_FILE = "kept.jsonl"
TIMELINE_FILE = "timeline.png"
SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
FRAMES_DIR = "frames"


class RecordingSelector:
    """A selector that also records every decision (one small dict per frame) and reports progress."""

    def __init__(self, selector, on_frame: Callable[[], None] = lambda: None):
        self.selector = selector
        self.on_frame = on_frame
        self.rows: list[dict] = []

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        decision = self.selector.consider(frame, detections, track_events)
        self.rows.append({"frame_index": frame.index, "source_ts": frame.source_ts, "keep": decision.keep,
                          "reasons": decision.reasons, "vetoed_by": decision.vetoed_by,
                          "rejected_for": decision.rejected_for, "signals": dict(decision.signals)})
        self.on_frame()
        return decision


class ReportSink:
    """The pipeline's sink for a sample run: nothing is sent, everything kept is written down.

    Args:
        directory: where the report goes (created).
        class_names: the detector's, for the JSON lines.
        jpeg_quality: the quality the uplink would use; each kept frame's JPEG size at it is
            reported (``jpeg_bytes``), so the bytes per hour are the real ones.
        save_frames: also write each kept frame as the JPEG the uplink would send.
    """

    def __init__(self, directory: Path, class_names: Sequence[str], jpeg_quality: int = 85, save_frames: bool = False):
        self.directory = Path(directory)
        self.class_names = tuple(class_names)
        self.jpeg_quality = jpeg_quality
        self.save_frames = save_frames
        self.cells: list = []
        self.kept = 0
        self.jpeg_bytes = 0
        self._out = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.save_frames:
            (self.directory / FRAMES_DIR).mkdir(exist_ok=True)
        self._out = open(self.directory / KEPT_FILE, "w", encoding="utf-8")

    def put(self, keyframe: Keyframe) -> None:
        frame, boxes, decision = keyframe.frame, keyframe.detections, keyframe.decision
        jpeg = keyframe.jpeg(self.jpeg_quality)
        self.kept += 1
        self.jpeg_bytes += len(jpeg)
        row = {
            "frame_index": frame.index,
            "source_ts": round(frame.source_ts, 3),
            "reasons": list(decision.reasons),
            "priority": round(decision.priority, 3),
            "jpeg_bytes": len(jpeg),
            "boxes": [{"xyxy": [round(float(v), 1) for v in xyxy], "score": round(float(score), 3),
                       "class": self._name(int(cls)), "track_id": int(track)}
                      for xyxy, score, cls, track in zip(boxes.xyxy, boxes.confidence, boxes.class_id, boxes.tracker_id)],
            "signals": {name: round(value, 4) for name, value in decision.signals.items()},
        }
        if self.save_frames:
            name = f"{FRAMES_DIR}/{frame.index:06d}.jpg"
            (self.directory / name).write_bytes(jpeg)
            row["file"] = name
        self._out.write(json.dumps(row) + "\n")
        title = f"#{frame.index}  {frame.source_ts:.1f} s  p={decision.priority:.2f}  {len(boxes)} boxes"
        self.cells.append(draw_cell(frame.image, boxes.xyxy, boxes.class_id, title, " ".join(decision.reasons)))

    def finish(self) -> None:
        self._close()

    def abort(self) -> None:
        self._close()

    def write_sheets(self) -> list[str]:
        """Write the contact sheets; returns their file names."""
        names = []
        for number, sheet in enumerate(contact_sheets(self.cells), start=1):
            name = f"sheet-{number:03d}.jpg"
            cv2.imwrite(str(self.directory / name), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
            names.append(name)
        return names

    def _name(self, class_id: int) -> str:
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) else str(class_id)

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


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
