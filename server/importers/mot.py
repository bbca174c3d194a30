"""A MOTChallenge sequence: ``img1/`` frames, ``gt/gt.txt`` tracks and ``seqinfo.ini``.

With a class list, ``gt/labels.txt`` (one name a line, as our MOT export and Datumaro write it),
the eighth column of ``gt.txt`` (MOT17/MOT20 layout) is the 1-based line of a box's class.
Without one, every box is of class ``person``: MOT15 has no class column, and the MOTChallenge
pedestrian sets score only pedestrians. Rows flagged 0 in the seventh column are left out, as
the benchmark ignores them. The frame number is the seq, so a re-import is recognised.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np

from edge.contract.boxes import xywh_to_xyxy
from edge.contract.motfile import MotFileError, read_mot_file
from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage
from server.importers.folders import image_files

MOT_CLASS = "person"
GT_FILE, LABELS_FILE = "gt/gt.txt", "gt/labels.txt"
CLASS_COLUMN = 7


def read_mot(root: Path, name: str) -> Dataset:
    info = configparser.ConfigParser()
    info.read(root / "seqinfo.ini")
    sequence = info["Sequence"] if info.has_section("Sequence") else {}
    image_dir = root / sequence.get("imDir", "img1")
    fps = float(sequence.get("frameRate", 0)) or None
    try:
        rows = read_mot_file(root / GT_FILE)
    except MotFileError as exc:
        raise DatasetImportError(str(exc)) from None
    class_names, labels_file = (MOT_CLASS,), None
    class_index = np.zeros(len(rows), np.int64)
    if (root / LABELS_FILE).is_file():
        labels_file = root / LABELS_FILE
        class_names = _class_names(labels_file)
        class_index = _class_column(root / GT_FILE, len(class_names))
    dataset = Dataset("mot", name, class_names, [], fps=fps,
                      label_files={root / GT_FILE} | ({labels_file} if labels_file else set()))
    ignored = rows.score == 0
    dataset.skip("box flagged 0 (ignored by the benchmark)", int(ignored.sum()))
    rows, class_index = rows[~ignored], class_index[~ignored]
    files = image_files(image_dir)
    by_frame: dict[int, list[tuple[int, int, tuple]]] = {}
    for frame, track_id, class_id, tlwh in zip(rows.frame.tolist(), rows.track_id.tolist(), class_index.tolist(),
                                               rows.tlwh.tolist()):
        by_frame.setdefault(frame, []).append((track_id, class_id, xywh_to_xyxy(tuple(tlwh))))
    for path in files:
        try:
            frame = int(path.stem)
        except ValueError:
            raise DatasetImportError(f"{path}: MOT frames are named by their number (000001.jpg)") from None
        dataset.images.append(ImportedImage(path, seq=frame, frame_index=frame - 1,
                                            boxes=tuple(ImportedBox(xyxy, class_id, track_id)
                                                        for track_id, class_id, xyxy in by_frame.get(frame, ()))))
    return dataset


def _class_names(labels_file: Path) -> tuple[str, ...]:
    names = tuple(line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip())
    if not names:
        raise DatasetImportError(f"{labels_file}: no class names (expected one a line)")
    return names


def _class_column(gt_file: Path, num_classes: int) -> np.ndarray:
    """The 0-based class of each row of ``gt_file`` (rows as :func:`read_mot_file` counts them)."""
    classes = []
    for number, line in enumerate(gt_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.replace(" ", "").split(",")
        try:
            class_number = int(float(fields[CLASS_COLUMN]))
        except (IndexError, ValueError):
            raise DatasetImportError(f"{gt_file}:{number}: with {LABELS_FILE} each row needs a class in its eighth column"
                                     f" (frame,id,x,y,w,h,flag,class,visibility), got {line.strip()!r}") from None
        if not 1 <= class_number <= num_classes:
            raise DatasetImportError(f"{gt_file}:{number}: class {class_number} is not a line of {LABELS_FILE} "
                                     f"(1..{num_classes})")
        classes.append(class_number - 1)
    return np.asarray(classes, np.int64)
