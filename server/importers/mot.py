"""A MOTChallenge sequence: ``img1/`` frames, ``gt/gt.txt`` tracks and ``seqinfo.ini``.

Every ground-truth box becomes a box of class ``person`` (MOT15 has no class column) with its
track id; rows flagged 0 in the seventh column are left out, as the benchmark ignores them. The
frame number is the seq, so a re-import is recognised.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from edge.contract.boxes import xywh_to_xyxy
from edge.contract.motfile import MotFileError, read_mot_file
from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage
from server.importers.folders import image_files

MOT_CLASS = "person"


def read_mot(root: Path, name: str) -> Dataset:
    info = configparser.ConfigParser()
    info.read(root / "seqinfo.ini")
    sequence = info["Sequence"] if info.has_section("Sequence") else {}
    image_dir = root / sequence.get("imDir", "img1")
    fps = float(sequence.get("frameRate", 0)) or None
    try:
        rows = read_mot_file(root / "gt" / "gt.txt")
    except MotFileError as exc:
        raise DatasetImportError(str(exc)) from None
    dataset = Dataset("mot", name, (MOT_CLASS,), [], fps=fps, label_files={root / "gt" / "gt.txt"})
    ignored = rows.score == 0
    dataset.skip("box flagged 0 (ignored by the benchmark)", int(ignored.sum()))
    rows = rows[~ignored]
    files = image_files(image_dir)
    by_frame: dict[int, list[tuple[int, tuple]]] = {}
    for frame, track_id, tlwh in zip(rows.frame.tolist(), rows.track_id.tolist(), rows.tlwh.tolist()):
        by_frame.setdefault(frame, []).append((track_id, xywh_to_xyxy(tuple(tlwh))))
    for path in files:
        try:
            frame = int(path.stem)
        except ValueError:
            raise DatasetImportError(f"{path}: MOT frames are named by their number (000001.jpg)") from None
        dataset.images.append(ImportedImage(path, seq=frame, frame_index=frame - 1,
                                            boxes=tuple(ImportedBox(xyxy, 0, track_id)
                                                        for track_id, xyxy in by_frame.get(frame, ()))))
    return dataset

