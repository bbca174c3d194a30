"""MOTChallenge: one sequence per device, ``<device>/img1/000001.jpg``..., ``gt/gt.txt``,
``seqinfo.ini`` and ``frames.csv``.

``gt.txt`` is the MOT15 layout ``frame,id,x,y,w,h,1,-1,-1,-1`` (written by
:mod:`edge.contract.motfile`, which the metric code also reads): frames are the 1-based
positions in ``img1``, the seventh column 1 marks every box as one to score. MOT has no class
column in this layout and needs an id on every box, so a box without a track id gets a fresh id
above the sequence's largest. ``frames.csv`` maps each MOT frame back to the stored frame (and
an imported frame to its source file, as MOT names frames by number) and says whether its boxes
were verified or the model's pre-labels.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edge.contract.boxes import xyxy_to_xywh
from edge.contract.motfile import format_mot_line
from server.exports.filter import ExportData
from server.exports.naming import safe_name
from server.exports.options import ExportOptions, Progress
from server.exports.sequences import by_device, frame_rate
from server.exports.writing import place_image, write_text

GT_FILE = "gt/gt.txt"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    counts = {"sequences": 0, "images": 0, "boxes": 0}
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
        index_rows.writerow(("frame", "frame_id", "device", "seq", "frame_index", "capture_ts", "verified", "source_file"))
        for position, frame in enumerate(frames, start=1):
            index_rows.writerow((position, frame.frame_id, frame.device, frame.seq, frame.frame_index,
                                 repr(frame.capture_ts), int(frame.verified), frame.source_file or ""))
            for box in sorted(frame.boxes, key=lambda b: (b.track_id is None, b.track_id or 0)):
                track_id = box.track_id
                if track_id is None:
                    track_id, next_id = next_id, next_id + 1
                gt.write(format_mot_line(position, track_id, xyxy_to_xywh(box.xyxy), 1.0))
                counts["boxes"] += 1
        write_text(sequence_dir / GT_FILE, gt.getvalue())
        write_text(sequence_dir / "frames.csv", index_csv.getvalue())
        width, height = frames[0].width, frames[0].height
        write_text(sequence_dir / "seqinfo.ini",
                   f"[Sequence]\nname={safe_name(device)}\nimDir=img1\nframeRate={frame_rate(frames):g}\n"
                   f"seqLength={len(frames)}\nimWidth={width}\nimHeight={height}\nimExt=.jpg\n")
        counts["sequences"] += 1
        counts["images"] += len(frames)
    return counts
