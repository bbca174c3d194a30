"""CVAT for video 1.1: one task per device, ``<device>/annotations.xml`` and ``<device>/images/``.

CVAT numbers a task's frames by the sorted image names, so images are written as
``frame_000000.png``... in capture order and ``<box frame=...>`` uses that index (an imported
frame's source file name would not sort in that order, so it is not used here). For a video
task's frames Datumaro's CVAT reader (which CVAT's importer uses) looks up ``frame_%06d.png``
and no other name, so the images are PNGs, losslessly holding the pixels of the stored JPEGs. ``<original_size>`` (which Datumaro needs for a track) is the
task's frame size; on a device whose frames differ in size, the most common one. Every stored
box is a keyframe (``keyframe="1"``): each one is a real label, nothing is interpolated. Where a
track is not seen in the next exported frame (it left, or the frames between were not kept) an
``outside="1"`` box closes it, so CVAT does not interpolate across the gap; when it comes back a
new keyframe opens it again. A box without a track id becomes a track of one frame, which is how
CVAT itself exports a single shape in the video format. A ``<track id>`` is the collector's track
id where it can be (see :func:`_track_ids`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from server.exports.filter import ExportBox, ExportData
from server.exports.naming import safe_name
from server.exports.options import ExportOptions, Progress
from server.exports.sequences import by_device
from server.exports.writing import place_png, rounded
from server.exports.xml import child, element, write_xml

ANNOTATIONS_FILE = "annotations.xml"
FRAME_NAME = "frame_{:06d}.png"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    counts = {"tasks": 0, "images": 0, "tracks": 0, "boxes": 0}
    sequences = by_device(data.frames)
    place = {frame.frame_id: (device, index) for device, frames in sequences.items() for index, frame in enumerate(frames)}
    for frame in progress(data.frames, len(data.frames), "cvat"):
        device, index = place[frame.frame_id]
        place_png(frame.image, root / safe_name(device) / "images" / FRAME_NAME.format(index))
    for device, frames in sequences.items():
        task_dir = root / safe_name(device)
        tracks: dict[tuple[int, str], list[tuple[int, ExportBox]]] = {}
        single: list[tuple[int, ExportBox]] = []
        for index, frame in enumerate(frames):
            for box in frame.boxes:
                if box.track_id is None:
                    single.append((index, box))
                else:  # CVAT gives a track one label: a track whose class changed becomes two
                    tracks.setdefault((box.track_id, box.class_name), []).append((index, box))
        document = _document(device, frames, data.class_names)
        ordered = sorted(tracks.values(), key=lambda boxes: (boxes[0][0], boxes[0][1].track_id, boxes[0][1].class_name))
        ordered += [[item] for item in single]
        for track_id, boxes in zip(_track_ids(ordered), ordered):
            _track(document, track_id, boxes, last_frame=len(frames) - 1)
            counts["boxes"] += len(boxes)
        write_xml(task_dir / ANNOTATIONS_FILE, document)
        counts["tasks"] += 1
        counts["images"] += len(frames)
        counts["tracks"] += len(ordered)
    return counts


def _track_ids(ordered: list[list[tuple[int, ExportBox]]]) -> list[int]:
    """Each CVAT track's id: the collector's track id where that id is one CVAT track (so importers
    get it back), else (a track whose class changed, a box without a track) a fresh one above them."""
    classes = Counter(boxes[0][1].track_id for boxes in ordered if boxes[0][1].track_id is not None)
    next_id = 1 + max(classes, default=0)
    ids = []
    for boxes in ordered:
        track_id = boxes[0][1].track_id
        if track_id is None or classes[track_id] > 1:
            track_id, next_id = next_id, next_id + 1
        ids.append(track_id)
    return ids


def _document(device: str, frames: list, class_names: tuple[str, ...]):
    document = element("annotations")
    child(document, "version", "1.1")
    task = child(child(document, "meta"), "task")
    child(task, "name", device)
    child(task, "size", len(frames))
    child(task, "mode", "interpolation")
    child(task, "overlap", 0)
    child(task, "start_frame", 0)
    child(task, "stop_frame", max(len(frames) - 1, 0))
    labels = child(task, "labels")
    for name in class_names:
        label = child(labels, "label")
        child(label, "name", name)
        child(label, "type", "rectangle")
        child(label, "attributes")
    if frames:
        sizes = Counter((frame.width, frame.height) for frame in frames)
        width, height = min(sizes, key=lambda size: (-sizes[size], size))
        original = child(task, "original_size")
        child(original, "width", width)
        child(original, "height", height)
    return document


def _track(document, number: int, boxes: list[tuple[int, ExportBox]], last_frame: int) -> None:
    first = boxes[0][1]
    track = child(document, "track", id=number, label=first.class_name,
                  source="manual" if first.score is None else "auto")
    for position, (index, box) in enumerate(boxes):
        _box(track, index, box, outside=False)
        next_index = boxes[position + 1][0] if position + 1 < len(boxes) else None
        if next_index != index + 1 and index < last_frame:
            _box(track, index + 1, box, outside=True)  # gone from the next frame: close the track there


def _box(track, frame: int, box: ExportBox, outside: bool) -> None:
    x1, y1, x2, y2 = (rounded(v) for v in box.xyxy)
    child(track, "box", frame=frame, keyframe=1, outside=int(outside), occluded=0,
          xtl=f"{x1:.2f}", ytl=f"{y1:.2f}", xbr=f"{x2:.2f}", ybr=f"{y2:.2f}", z_order=0)
