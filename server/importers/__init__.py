"""Importers: existing datasets (COCO, YOLO, MOTChallenge, Pascal VOC, CVAT, Label Studio, image folders) into the store.

:func:`read_folder` finds the datasets a folder holds (:mod:`.layout`), reads each with its reader
(``coco``, ``yolo``, ``mot``, ``voc``, ``cvat``, ``labelstudio``, ``folders``) into a :class:`~.dataset.Dataset`, and warns about label
files none of them read (:mod:`.unused`). :func:`~.importer.import_dataset` sends a dataset through
:meth:`server.datadir.DataDir.ingest_frames`, the path frames from the edge take (dedup, store, queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.importers.coco import read_coco
from server.importers.cvat import read_cvat
from server.importers.dataset import Dataset, DatasetImportError
from server.importers.folders import read_image_folder
from server.importers.labelstudio import read_labelstudio
from server.importers.layout import DatasetPart, find_parts
from server.importers.mot import read_mot
from server.importers.unused import unused_label_warnings
from server.importers.voc import read_voc
from server.importers.yolo import read_yolo

IMPORT_FORMATS = ("coco", "yolo", "mot", "voc", "cvat", "labelstudio", "images")


@dataclass(frozen=True)
class DatasetFolder:
    datasets: list[Dataset]
    """One per split or sequence when the folder holds several (named ``NAME/<part>``), else one."""
    warnings: list[str]
    """Label files in the folder that none of the datasets read, and how to import them."""


def read_folder(root: Path, format_name: str | None = None, annotations: Path | None = None,
                name: str | None = None) -> DatasetFolder:
    """The datasets of ``root`` (of ``format_name``, else of the layout it has), read."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetImportError(f"not a folder: {root}")
    if format_name is not None and format_name not in IMPORT_FORMATS:
        raise DatasetImportError(f"unknown format {format_name!r}; expected one of {', '.join(IMPORT_FORMATS)}")
    name = name or root.absolute().name
    datasets = [_read_part(part, name) for part in find_parts(root, format_name, annotations)]
    used = {path for dataset in datasets for path in dataset.label_files}
    return DatasetFolder(datasets, unused_label_warnings(root, used, {dataset.kind for dataset in datasets}))


def read_dataset(root: Path, format_name: str | None = None, annotations: Path | None = None,
                 name: str | None = None) -> Dataset:
    """The one dataset of ``root`` (see :func:`read_folder`, which also reads folders holding several)."""
    datasets = read_folder(root, format_name, annotations, name).datasets
    if len(datasets) != 1:
        raise DatasetImportError(f"{root} holds {len(datasets)} datasets; read it with read_folder")
    return datasets[0]


def _read_part(part: DatasetPart, name: str) -> Dataset:
    if part.part:
        name = f"{name}/{part.part}"
    if part.format == "coco":
        return read_coco(part.root, part.annotations, name)
    readers = {"yolo": read_yolo, "mot": read_mot, "voc": read_voc, "cvat": read_cvat, "labelstudio": read_labelstudio,
               "images": read_image_folder}
    return readers[part.format](part.root, name)
