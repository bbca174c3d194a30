"""Label files in a dataset's folder that the import did not read, and which format would.

A COCO root once imported as a plain image folder stored its pictures without a box and said
nothing. Now, after reading, every file some format takes labels from is checked against the
files the readers used (:attr:`~.dataset.Dataset.label_files`), and what is left is named in a
warning with the way to import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePath

KINDS = {
    "coco": ("JSON annotation file", ("COCO reads them: --format coco (annotations/instances_<split>.json beside "
                                      "images/<split>/) or --annotations FILE")),
    "yolo": ("YOLO label file", "YOLO reads them: --format yolo (labels/... beside images/..., class names in data.yaml)"),
    "mot": ("MOT ground-truth file", "MOT reads them: --format mot (img1/ and gt/gt.txt per sequence)"),
    "labelstudio": ("Label Studio tasks file", "Label Studio reads them: --format labelstudio (tasks.json, images/)"),
    "voc": ("Pascal VOC annotation file", "VOC reads them: --format voc (Annotations/ beside JPEGImages/)"),
    "cvat": ("CVAT annotation file", "CVAT reads them: --format cvat (annotations.xml beside images/, per task)"),
    "xml": ("XML annotation file", "no importer reads them"),
}
"""Per format that would use them: what the files are, and how to import them."""

EXAMPLES = 3


def label_format(relative: PurePath) -> str | None:
    """The format (a key of :data:`KINDS`) that takes labels from this file, by its place in the dataset."""
    suffix = relative.suffix.lower()
    if relative.as_posix() == "tasks.json":
        return "labelstudio"
    if suffix == ".json":
        return "coco"
    if suffix == ".xml":
        if relative.parts[-2:-1] == ("Annotations",):
            return "voc"
        return "cvat" if relative.name == "annotations.xml" else "xml"
    if relative.parts[-2:] == ("gt", "gt.txt"):
        return "mot"
    if suffix == ".txt" and "labels" in relative.parts[:-1]:
        return "yolo"
    if relative.as_posix() in ("data.yaml", "classes.txt"):
        return "yolo"
    return None


def unused_label_warnings(root: Path, used: Iterable[Path], formats_read: set[str]) -> list[str]:
    """One line per format whose label files under ``root`` the import (``formats_read``) left unread."""
    used = {os.path.abspath(path) for path in used}  # not resolved: two links to one file are two files
    unused: dict[str, list[PurePath]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):  # hidden: e.g. an export's own marker
            continue
        kind = label_format(relative)
        if kind is not None and path.is_file() and os.path.abspath(path) not in used:
            unused.setdefault(kind, []).append(relative)
    warnings = []
    for kind, files in unused.items():
        what, how = KINDS[kind]
        examples = ", ".join(file.as_posix() for file in files[:EXAMPLES]) + (", ..." if len(files) > EXAMPLES else "")
        if kind in formats_read:
            how = f"this {kind} import did not use them"
        warnings.append(f"{len(files)} {what}{'s' if len(files) != 1 else ''} in {root} not imported ({examples}): {how}")
    return warnings
