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

from dataclasses import dataclass
from pathlib import Path

from server.exports import coco as coco_export
from server.importers.cvat import cvat_tasks, is_cvat_task
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
    if format_name in (None, "mot"):
        if (root / "gt" / "gt.txt").is_file():
            return [DatasetPart("mot", root)]
        sequences = mot_sequences(root)
        if sequences:
            return [DatasetPart("mot", sequence, part=sequence.name) for sequence in sequences]
        if format_name == "mot":
            return [DatasetPart("mot", root)]  # not a sequence: its reader says what is missing
    if format_name in (None, "cvat"):
        if is_cvat_task(root):
            return [DatasetPart("cvat", root)]
        tasks = cvat_tasks(root)
        if tasks:
            return [DatasetPart("cvat", task, part=task.name) for task in tasks]
        if format_name == "cvat":
            return [DatasetPart("cvat", root)]  # not a task: its reader says what is missing
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


def mot_sequences(root: Path) -> list[Path]:
    """The MOTChallenge sequences (folders with ``gt/gt.txt``) directly under ``root``, by name."""
    return sorted(child for child in root.iterdir() if (child / "gt" / "gt.txt").is_file())


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
