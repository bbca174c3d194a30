"""The pipeline's sink in a sample run: instead of the uplink, it writes each kept frame down.

For each kept frame a JSON line (and, if asked, the JPEG the uplink would have sent) and a
contact-sheet cell; the names of the report's files are defined here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2

from edge.selection.report.contact_sheet import contact_sheets, draw_cell
from edge.uplink import Keyframe

KEPT_FILE = "kept.jsonl"
TIMELINE_FILE = "timeline.png"
SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
FRAMES_DIR = "frames"


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
