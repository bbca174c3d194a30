"""Importers: existing datasets (COCO, YOLO, MOTChallenge, plain image folders) into the store.

A reader (``coco``, ``yolo``, ``mot``, ``folders``) turns files into a :class:`~.dataset.Dataset`;
:func:`~.ingest.import_dataset` sends it through :meth:`server.datadir.DataDir.ingest_frames`, the
path frames from the edge take (dedup, store, queue). :func:`read_dataset` picks the reader.
"""

from __future__ import annotations

from pathlib import Path

from server.importers.coco import read_coco
from server.importers.dataset import Dataset, DatasetImportError
from server.importers.folders import read_image_folder
from server.importers.mot import read_mot
from server.importers.yolo import read_yolo

IMPORT_FORMATS = ("coco", "yolo", "mot", "images")


def detect_format(root: Path, annotations: Path | None) -> str:
    """The format a folder looks like: COCO when given a JSON file, else by its layout."""
    if annotations is not None:
        return "coco"
    if (root / "gt" / "gt.txt").is_file():
        return "mot"
    if (root / "data.yaml").is_file() or (root / "labels").is_dir() or (root / "classes.txt").is_file():
        return "yolo"
    return "images"


def read_dataset(root: Path, format_name: str | None = None, annotations: Path | None = None,
                 name: str | None = None) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetImportError(f"not a folder: {root}")
    format_name = format_name or detect_format(root, annotations)
    name = name or root.absolute().name
    if format_name == "coco":
        if annotations is None:
            raise DatasetImportError("--format coco needs --annotations FILE (the instances JSON)")
        return read_coco(root, annotations, name)
    if annotations is not None:
        raise DatasetImportError(f"--annotations is for COCO datasets, not --format {format_name}")
    readers = {"yolo": read_yolo, "mot": read_mot, "images": read_image_folder}
    if format_name not in readers:
        raise DatasetImportError(f"unknown format {format_name!r}; expected one of {', '.join(IMPORT_FORMATS)}")
    return readers[format_name](root, name)
