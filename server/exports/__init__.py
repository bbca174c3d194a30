"""Exports of the collector's frames and labels to the datasets training tools read.

One module per format (``coco``, ``yolo``, ``voc``, ``cvat``, ``mot``, ``labelstudio``), each with
one function ``write(data, root, options, progress) -> counts``; :mod:`.filter` decides which
frames and boxes go in, :mod:`.writing` makes the result atomic and deterministic, and
every box conversion comes from :mod:`edge.contract.boxes`. :func:`export` ties them together.

Synthetic frames (only with ``Selection.include_synthetic``) are their own split, ``synthetic``:
YOLO puts them in ``images/synthetic`` and ``labels/synthetic`` beside train and val, COCO in
``annotations/instances_synthetic.json`` beside ``images/synthetic/`` (so one reader of the root
sees both splits); every other format writes them as a complete dataset of its own layout under
``synthetic/``, with the same class list (so class ids agree with the real part).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from server.datadir import DataDir
from server.exports import coco, cvat, labelstudio, mot, voc, yolo
from server.exports.errors import ExportError
from server.exports.filter import Selection, select
from server.exports.options import ExportOptions, Progress, no_progress
from server.exports.writing import MARKER, atomic_directory, write_json

SYNTHETIC_DIR = "synthetic"

FORMATS = {
    "coco": coco.write,
    "yolo": yolo.write,
    "voc": voc.write,
    "cvat": cvat.write,
    "mot": mot.write,
    "labelstudio": labelstudio.write,
}


@dataclass(frozen=True)
class ExportSummary:
    format: str
    out: str
    frames: int
    verified_frames: int
    """Frames whose boxes are a reviewer's (annotations)."""
    prelabeled_frames: int
    """Frames whose boxes are the model's pre-labels (detections); only with ``--status all``."""
    synthetic_frames: int
    """Synthetic frames (the ``synthetic`` split); only with ``--include-synthetic``."""
    boxes: int
    tracks: int
    """Distinct (device, track id) pairs among the boxes."""
    classes: list[str]
    devices: list[str]
    written: dict[str, int] = field(default_factory=dict)
    """What the format wrote (images, annotations, tracks...)."""
    notes: list[str] = field(default_factory=list)
    """What a user of the export must know (YOLO: how val was made when no clean split exists;
    frames held back while reviewers disagree)."""
    held_back: int = 0
    """Frames left out because their adjudication is open (see :mod:`server.exports.filter`)."""

    def to_json(self) -> dict:
        return asdict(self)


def export(store: DataDir, format_name: str, out: Path, selection: Selection,
           options: ExportOptions | None = None, progress: Progress = no_progress) -> ExportSummary:
    """Write the selected frames of ``store`` as ``format_name`` to the directory ``out``, atomically."""
    writer = FORMATS.get(format_name)
    if writer is None:
        raise ExportError(f"unknown format {format_name!r}; expected one of {', '.join(FORMATS)}")
    options = options or ExportOptions()
    data = select(store, selection)
    with atomic_directory(Path(out)) as root:
        try:
            if format_name in ("yolo", "coco"):  # their synthetic split sits beside the others
                written = writer(data, root, options, progress)
            else:
                written = writer(data.part(synthetic=False), root, options, progress)
                synthetic = data.part(synthetic=True)
                if synthetic.frames:
                    written.update({f"synthetic_{key}": value for key, value in
                                    writer(synthetic, root / SYNTHETIC_DIR, options, progress).items()})
        except OSError as exc:  # a full disk, a permission: one line for the operator, nothing left behind
            raise ExportError(f"cannot write the {format_name} export to {out}: {exc.strerror or exc}") from exc
        summary = ExportSummary(
            format=format_name, out=str(Path(out).absolute()), frames=len(data.frames),
            verified_frames=sum(frame.verified and not frame.synthetic for frame in data.frames),
            prelabeled_frames=sum(not frame.verified and not frame.synthetic for frame in data.frames),
            synthetic_frames=sum(frame.synthetic for frame in data.frames),
            boxes=sum(len(frame.boxes) for frame in data.frames),
            tracks=len({(frame.device, box.track_id) for frame in data.frames for box in frame.boxes
                        if box.track_id is not None}),
            classes=list(data.class_names), devices=sorted({frame.device for frame in data.frames}),
            written=written, notes=(yolo.notes(written, options) if format_name == "yolo" else [])
            + _held_back_note(data.held_back), held_back=data.held_back,
        )
        # frame_ids: the manifest 'models evaluate --exclude-from' reads to leave a model's training frames out;
        # frames_by_model: which model pre-labeled each device frame, in every format (YOLO and CVAT
        # have no per-image place for it).
        write_json(root / MARKER, {"created_at": time.time(), "selection": asdict(selection), **summary.to_json(),
                                   "frame_ids": sorted(frame.frame_id for frame in data.frames),
                                   "frames_by_model": frames_by_model(data.frames)})
    return summary


def frames_by_model(frames) -> dict[str, list[int]]:
    """Model id (with runtime, as devices send it) -> the ids of the frames it pre-labeled."""
    by_model: dict[str, list[int]] = {}
    for frame in sorted(frames, key=lambda frame: frame.frame_id):
        if frame.prelabel_model is not None:
            by_model.setdefault(frame.prelabel_model, []).append(frame.frame_id)
    return dict(sorted(by_model.items()))


def _held_back_note(held_back: int) -> list[str]:
    if not held_back:
        return []
    return [f"{held_back} frame(s) held back: their reviewers disagree and no admin has decided yet "
            "(the adjudication page, /adjudicate); export again once decided"]


__all__ = ["FORMATS", "ExportError", "ExportOptions", "ExportSummary", "Selection", "export"]
