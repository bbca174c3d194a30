"""Which datasets a folder holds: its layout guessed from its files, or checked against ``--format``.

Recognised, in this order (a folder given with ``--annotations`` is COCO, whatever it holds):

* MOTChallenge: a sequence (``img1/``, ``gt/gt.txt``, ``seqinfo.ini``), or a folder whose
  subfolders are sequences (``MOT17/train``): one dataset per sequence.
* CVAT 1.1: a task (``annotations.xml`` beside ``images/``), or a folder of tasks (our CVAT
  export: one per device): one dataset per task.
* Label Studio: ``tasks.json`` (a Label Studio JSON export, or ours), with ``label_config.xml``.
* COCO: ``annotations/instances_<split>.json`` beside ``images/<split>/`` (or ``<split>/``, as the
  COCO zips unpack; or ``images/`` for a single file): one dataset per split that has its images.
  A COCO export (``annotations.json`` beside ``images/``) is one dataset.
* Pascal VOC: ``Annotations/`` beside ``JPEGImages/`` (class names from ``labelmap.txt`` or ``labels.txt``).
* YOLO: ``data.yaml`` or ``classes.txt`` or a ``labels/`` folder (Ultralytics ``images/{train,val}``
  with ``labels/{train,val}``, or flat ``images/`` with ``labels/``): the reader pairs them.
* anything else: a plain image folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.exports import coco as coco_export
from server.importers.cvat import is_cvat_task
from server.importers.dataset import DatasetImportError
from server.importers.labelstudio import looks_like_labelstudio
from server.importers.voc import looks_like_voc

COCO_INSTANCES = "instances_*.json"


@dataclass(frozen=True)
class DatasetPart:
    """One dataset of a folder, and how to read it."""

    format: str
    root: Path
    """What the reader reads: the sequence, the YOLO root, the image folder (COCO's images)."""
    annotations: Path | None = None
    """COCO: the instances JSON."""
    part: str | None = None
    """The split or sequence name, when the folder holds several datasets (or a folder of sequences)."""


def find_parts(root: Path, format_name: str | None, annotations: Path | None) -> list[DatasetPart]:
    """The datasets in ``root``: of ``format_name``, or of the first layout above that fits."""
    if annotations is not None:
        if format_name not in (None, "coco"):
            raise DatasetImportError(f"--annotations is for COCO datasets, not --format {format_name}")
        return [DatasetPart("coco", root, annotations)]
    for name, is_dataset in (("mot", is_mot_sequence), ("cvat", is_cvat_task)):
        if format_name in (None, name):
            parts = _root_or_children(name, root, is_dataset, forced=format_name == name)
            if parts:
                return parts
    if format_name == "labelstudio" or format_name is None and looks_like_labelstudio(root):
        return [DatasetPart("labelstudio", root)]
    if format_name in (None, "coco"):
        splits = coco_splits(root)
        if len(splits) == 1:
            return [DatasetPart("coco", splits[0][1], splits[0][2])]
        if splits:
            return [DatasetPart("coco", images, instances, part=split) for split, images, instances in splits]
        if format_name == "coco":
            raise DatasetImportError("--format coco needs --annotations FILE (the instances JSON), "
                                     f"or DIR holding annotations/{COCO_INSTANCES} beside its images")
    if format_name == "voc" or format_name is None and looks_like_voc(root):
        return [DatasetPart("voc", root)]
    if format_name == "yolo" or format_name is None and looks_like_yolo(root):
        return [DatasetPart("yolo", root)]
    return [DatasetPart("images", root)]


def _root_or_children(format_name: str, root: Path, is_dataset: Callable[[Path], bool],
                      forced: bool) -> list[DatasetPart]:
    """``root`` when it is one dataset (a MOT sequence, a CVAT task), else one per folder directly
    under it that is one, by name; else nothing, or ``root`` when ``--format`` named the format
    (its reader then says what is missing)."""
    if is_dataset(root):
        return [DatasetPart(format_name, root)]
    children = sorted(child for child in root.iterdir() if is_dataset(child))
    if children:
        return [DatasetPart(format_name, child, part=child.name) for child in children]
    return [DatasetPart(format_name, root)] if forced else []


def is_mot_sequence(folder: Path) -> bool:
    return (folder / "gt" / "gt.txt").is_file()


def coco_splits(root: Path) -> list[tuple[str, Path, Path]]:
    """(split, image folder, instances JSON) of each ``annotations/instances_<split>.json`` whose images are there;
    or of a COCO export of ours made before the standard layout (``annotations.json`` beside ``images/``)."""
    legacy_annotations, legacy_images = root / coco_export.LEGACY_ANNOTATIONS_FILE, root / coco_export.LEGACY_IMAGES_DIR
    if legacy_annotations.is_file() and legacy_images.is_dir():
        return [("", legacy_images, legacy_annotations)]
    files = sorted((root / "annotations").glob(COCO_INSTANCES))
    splits = []
    for instances in files:
        split = instances.stem.removeprefix("instances_")
        candidates = [root / "images" / split, root / split] + ([root / "images"] if len(files) == 1 else [])
        images = next((folder for folder in candidates if folder.is_dir()), None)
        if images is not None:  # a split without its images is left out; the unused-label warning names it
            splits.append((split, images, instances))
    return splits


def looks_like_yolo(root: Path) -> bool:
    return (root / "data.yaml").is_file() or (root / "labels").is_dir() or (root / "classes.txt").is_file()
