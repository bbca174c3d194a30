"""Ultralytics YOLO detection layout: ``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``.

One label file per image (empty for a frame without boxes: a negative), one line per box,
``class cx cy w h`` normalised to the image. The split is by track and time
(:mod:`server.exports.split`). ``data.yaml`` names no ``path``: Ultralytics then resolves
``train``/``val`` next to the yaml file, so the dataset can be moved. Synthetic frames go to a
third split, ``synthetic`` (``images/synthetic``, ``labels/synthetic``), named in ``data.yaml`` as
``synthetic:``; to train on them, list it under ``train``.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.contract.boxes import xyxy_to_yolo
from server.exports.filter import ExportData
from server.exports.options import ExportOptions, Progress
from server.exports.split import split_by_track_and_time
from server.exports.writing import place_image, write_text

DATA_YAML = "data.yaml"
SPLITS = ("train", "val")
SYNTHETIC_SPLIT = "synthetic"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    class_id = {name: index for index, name in enumerate(data.class_names)}
    split = split_by_track_and_time(data.part(synthetic=False).frames, options.val_fraction)
    split.update({frame.frame_id: SYNTHETIC_SPLIT for frame in data.frames if frame.synthetic})
    has_synthetic = any(frame.synthetic for frame in data.frames)
    counts = {"train": 0, "val": 0, **({SYNTHETIC_SPLIT: 0} if has_synthetic else {}), "boxes": 0}
    for frame in progress(data.frames, len(data.frames), "yolo"):
        part = split[frame.frame_id]
        place_image(frame.image, root / "images" / part / f"{frame.stem}.jpg", options.link_images)
        lines = []
        for box in frame.boxes:
            cx, cy, w, h = xyxy_to_yolo(box.xyxy, frame.width, frame.height)
            lines.append(f"{class_id[box.class_name]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        write_text(root / "labels" / part / f"{frame.stem}.txt", "".join(lines))
        counts[part] += 1
        counts["boxes"] += len(lines)
    for part in SPLITS:  # Ultralytics wants both folders, even an empty one
        (root / "images" / part).mkdir(parents=True, exist_ok=True)
        (root / "labels" / part).mkdir(parents=True, exist_ok=True)
    # With no val frame (one track spans everything) Ultralytics would stop on an empty val set;
    # validating on train is the honest fallback, and the summary says so.
    val = "images/val" if counts["val"] else "images/train"
    names = "".join(f"  {index}: {json.dumps(name)}\n" for index, name in enumerate(data.class_names))
    synthetic = ""
    if SYNTHETIC_SPLIT in counts:
        synthetic = ("# synthetic frames (server.synthetic); to train on them too: train: [images/train, images/synthetic]\n"
                     f"{SYNTHETIC_SPLIT}: images/{SYNTHETIC_SPLIT}\n")
    write_text(root / DATA_YAML, f"# edgelabel export; train with: yolo detect train data={DATA_YAML} model=yolo11n.pt\n"
                                 f"train: images/train\nval: {val}\n{synthetic}nc: {len(data.class_names)}\n"
                                 + (f"names:\n{names}" if names else "names: {}\n"))
    return counts
