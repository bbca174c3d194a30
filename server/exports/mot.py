"""MOTChallenge: one sequence per device, ``<device>/img1/000001.jpg``..., ``gt/gt.txt``,
``gt/labels.txt``, ``seqinfo.ini`` and ``frames.csv``.

``gt.txt`` is the MOT17/MOT20 layout ``frame,id,x,y,w,h,1,class,1``: frames are the 1-based
positions in ``img1``; the seventh column 1 marks every box as one to score; ``class`` is the
1-based line of ``gt/labels.txt`` (the class list Datumaro's ``mot_seq`` reads, one name a line);
visibility is 1, as a reviewer's box is the visible object. (The MOT15 layout's ``-1`` there made
newer readers take every box as unlabeled and occluded.) The first seven columns are what
:mod:`edge.contract.motfile` reads, so the metric code still scores the file. MOT needs an id on
every box, so a box without a track id gets a fresh id above the sequence's largest.

``seqinfo.ini``'s ``frameRate`` is a whole number of at least 1, as in every MOTChallenge sequence
(readers parse it with ``int()``); the capture times themselves are in ``frames.csv``, which maps
each MOT frame back to the stored frame (and an imported frame to its source file, as MOT names
frames by number), says whether its boxes were verified or the model's pre-labels, and names the
model that pre-labeled a device's frame (``model_id``, the last column; empty for imported and synthetic frames).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edge.contract.boxes import xyxy_to_xywh
from server.exports.filter import ExportData
from server.exports.naming import safe_name
from server.exports.options import ExportOptions, Progress
from server.exports.sequences import by_device, frame_rate
from server.exports.writing import place_image, write_text

GT_FILE = "gt/gt.txt"
LABELS_FILE = "gt/labels.txt"
VISIBLE = 1


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    counts = {"sequences": 0, "images": 0, "boxes": 0}
    class_number = {name: index + 1 for index, name in enumerate(data.class_names)}
    sequences = by_device(data.frames)
    place = {frame.frame_id: (device, index) for device, frames in sequences.items() for index, frame in enumerate(frames)}
    for frame in progress(data.frames, len(data.frames), "mot"):
        device, index = place[frame.frame_id]
        place_image(frame.image, root / safe_name(device) / "img1" / f"{index + 1:06d}.jpg", options.link_images)
    for device, frames in sequences.items():
        sequence_dir = root / safe_name(device)
        next_id = 1 + max((box.track_id for frame in frames for box in frame.boxes if box.track_id is not None), default=0)
        gt, index_csv = io.StringIO(), io.StringIO()
        index_rows = csv.writer(index_csv, lineterminator="\n")
        index_rows.writerow(("frame", "frame_id", "device", "seq", "frame_index", "capture_ts", "verified", "source_file",
                             "model_id"))
        for position, frame in enumerate(frames, start=1):
            index_rows.writerow((position, frame.frame_id, frame.device, frame.seq, frame.frame_index,
                                 repr(frame.capture_ts), int(frame.verified), frame.source_file or "",
                                 frame.prelabel_model or ""))
            for box in sorted(frame.boxes, key=lambda b: (b.track_id is None, b.track_id or 0)):
                track_id = box.track_id
                if track_id is None:
                    track_id, next_id = next_id, next_id + 1
                x, y, w, h = (float(v) for v in xyxy_to_xywh(box.xyxy))
                gt.write(f"{position},{track_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,{class_number[box.class_name]},{VISIBLE}\n")
                counts["boxes"] += 1
        write_text(sequence_dir / GT_FILE, gt.getvalue())
        write_text(sequence_dir / LABELS_FILE, "".join(f"{name}\n" for name in data.class_names))
        write_text(sequence_dir / "frames.csv", index_csv.getvalue())
        width, height = frames[0].width, frames[0].height
        write_text(sequence_dir / "seqinfo.ini",
                   f"[Sequence]\nname={safe_name(device)}\nimDir=img1\nframeRate={whole_frame_rate(frames)}\n"
                   f"seqLength={len(frames)}\nimWidth={width}\nimHeight={height}\nimExt=.jpg\n")
        counts["sequences"] += 1
        counts["images"] += len(frames)
    return counts


def whole_frame_rate(frames: list) -> int:
    """The sequence's frame rate as MOTChallenge writes it: a whole number, at least 1."""
    return max(1, round(frame_rate(frames)))
