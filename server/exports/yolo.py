"""Ultralytics YOLO detection layout: ``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``.

One label file per image (empty for a frame without boxes: a negative), one line per box,
``class cx cy w h`` normalised to the image. ``data.yaml`` names no ``path``: Ultralytics then
resolves ``train``/``val`` next to the yaml file, so the dataset can be moved. Synthetic frames go
to a third split, ``synthetic`` (``images/synthetic``, ``labels/synthetic``), named in ``data.yaml``
as ``synthetic:``; to train on them, list it under ``train``.

The split (:mod:`server.exports.split`) keeps every track on one side. Where no such split exists
(one continuous clip) the latest frames by capture time are val, and ``data.yaml`` and the
summary say how many tracks are then on both sides; ``--val-from`` holds out a device or a time
range instead. ``val`` points at train only when there is no second frame to validate on (or
``--val-fraction 0``), and ``data.yaml`` says so: Ultralytics' validation scores are then
training scores.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.contract.boxes import xyxy_to_yolo
from server.exports.errors import ExportError
from server.exports.filter import ExportData
from server.exports.options import ExportOptions, Progress
from server.exports.split import shared_tracks, split_by_time, split_by_track_and_time, split_held_out
from server.exports.writing import place_image, write_text

DATA_YAML = "data.yaml"
SPLITS = ("train", "val")
SYNTHETIC_SPLIT = "synthetic"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    class_id = {name: index for index, name in enumerate(data.class_names)}
    real = data.part(synthetic=False).frames
    split, how = _split(real, options)
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
    if real and not counts["val"]:
        how = "val_is_train"  # nothing to validate on: Ultralytics would stop on an empty val set
    if how != "by_track":
        counts[how] = counts["val"] if how != "val_is_train" else 1
        shared = shared_tracks(real, split)
        if shared:
            counts["shared_tracks"] = shared
    val = "images/train" if how == "val_is_train" else "images/val"
    names = "".join(f"  {index}: {json.dumps(name)}\n" for index, name in enumerate(data.class_names))
    synthetic = ""
    if SYNTHETIC_SPLIT in counts:
        synthetic = ("# synthetic frames (server.synthetic); to train on them too: train: [images/train, images/synthetic]\n"
                     f"{SYNTHETIC_SPLIT}: images/{SYNTHETIC_SPLIT}\n")
    comments = "".join(f"# note: {note}\n" for note in notes(counts, options))
    write_text(root / DATA_YAML, f"# edgelabel export; train with: yolo detect train data={DATA_YAML} model=yolo11n.pt\n"
                                 f"{comments}train: images/train\nval: {val}\n{synthetic}nc: {len(data.class_names)}\n"
                                 + (f"names:\n{names}" if names else "names: {}\n"))
    return counts


def _split(frames, options: ExportOptions) -> tuple[dict[int, str], str]:
    """The split of the real frames, and how it was made (a key the counts and :func:`notes` use)."""
    if options.val_from is not None:
        split = split_held_out(frames, options.val_from)
        held = sum(part == "val" for part in split.values())
        if frames and not held:
            raise ExportError(f"--val-from: no exported frame is {options.val_from.describe()}")
        if frames and held == len(frames):
            raise ExportError(f"--val-from: every exported frame is {options.val_from.describe()}, "
                              "none would be left to train on")
        return split, "val_held_out"
    split = split_by_track_and_time(frames, options.val_fraction)
    if options.val_fraction > 0 and len(frames) > 1 and "val" not in split.values():
        return split_by_time(frames, options.val_fraction), "val_by_time"
    return split, "by_track"


def notes(counts: dict[str, int], options: ExportOptions) -> list[str]:
    """What a user of the export must know about its val split (written into data.yaml and printed)."""
    shared = counts.get("shared_tracks", 0)
    both = f"; {shared} track{'s' if shared != 1 else ''} appear{'s' if shared == 1 else ''} in both train and val"
    if "val_is_train" in counts:
        return ["val is empty, so data.yaml points val at train: Ultralytics' validation scores are training scores; "
                "hold out a device or a time range with --val-from"]
    if "val_by_time" in counts:
        return [f"no split keeps every track on one side (the tracks chain through the whole clip): val holds the "
                f"latest {counts['val']} frames by capture time{both if shared else ''}; for a clean val set, hold out "
                "a device or a time range with --val-from"]
    if "val_held_out" in counts:
        return [f"val holds the {counts['val']} frames {options.val_from.describe()} (--val-from){both if shared else ''}"]
    return []
