"""An Ultralytics/Darknet YOLO dataset: ``images/...`` with ``labels/...`` beside them.

A label file sits where its image is with the last ``images`` folder of the path replaced by
``labels`` and the suffix by ``.txt``; each line is ``class cx cy w h`` normalised to the image.
Class names come from ``data.yaml`` (``names`` as a list or an id-to-name map) or ``classes.txt``
(one per line). An image without a label file has no objects.
"""

from __future__ import annotations

import math
from pathlib import Path

from edge.contract.boxes import yolo_to_xyxy
from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage
from server.importers.folders import image_files, image_size, path_seq

YOLO_LINE_FIELDS = 5


def read_yolo(root: Path, name: str) -> Dataset:
    names_file, class_names = _class_names(root)
    files = [path for path in image_files(root) if "images" in path.relative_to(root).parts[:-1]]
    if not files:
        raise DatasetImportError(f"no images under an 'images' folder in {root}")
    dataset = Dataset("yolo", name, class_names, [], label_files={names_file})
    for index, path in enumerate(files):
        label_file = _label_path(root, path)
        boxes = ()
        if label_file.is_file():
            dataset.label_files.add(label_file)
            width, height = image_size(path)
            boxes = tuple(ImportedBox(yolo_to_xyxy(yolo, width, height), class_id)
                          for class_id, yolo in _read_labels(label_file, len(class_names)))
        dataset.images.append(ImportedImage(path, seq=path_seq(root, path), frame_index=index, boxes=boxes))
    return dataset


def _label_path(root: Path, image: Path) -> Path:
    parts = list(image.relative_to(root).parts)
    last_images = len(parts) - 1 - parts[::-1].index("images")
    parts[last_images] = "labels"
    return (root / Path(*parts)).with_suffix(".txt")


def _read_labels(path: Path, num_classes: int) -> list[tuple[int, tuple[float, float, float, float]]]:
    boxes = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != YOLO_LINE_FIELDS:  # polygons (segmentation labels) have more
            raise DatasetImportError(f"{path}:{number}: expected 'class cx cy w h', got {line.strip()!r}")
        try:
            class_id, values = int(fields[0]), tuple(float(v) for v in fields[1:])
        except ValueError:
            raise DatasetImportError(f"{path}:{number}: expected an integer class and 4 numbers, got {line.strip()!r}") from None
        if not 0 <= class_id < num_classes:
            raise DatasetImportError(f"{path}:{number}: class {class_id} is not in the {num_classes} names")
        if not all(math.isfinite(v) for v in values):
            raise DatasetImportError(f"{path}:{number}: non-finite box {line.strip()!r}")
        boxes.append((class_id, values))
    return boxes


def _class_names(root: Path) -> tuple[Path, tuple[str, ...]]:
    """The file that names the classes, and the names."""
    data_yaml, classes_txt = root / "data.yaml", root / "classes.txt"
    if data_yaml.is_file():
        import yaml  # only YOLO imports need it

        try:
            names = (yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}).get("names")
        except (yaml.YAMLError, AttributeError) as exc:
            raise DatasetImportError(f"cannot read {data_yaml}: {exc}") from None
        if isinstance(names, dict):
            names = [names[key] for key in sorted(names)]
        if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
            raise DatasetImportError(f"{data_yaml}: 'names' must be a non-empty list or map of class names")
        return data_yaml, tuple(names)
    if classes_txt.is_file():
        names = [line.strip() for line in classes_txt.read_text(encoding="utf-8").splitlines() if line.strip()]
        if names:
            return classes_txt, tuple(names)
    raise DatasetImportError(f"no class names in {root}: expected data.yaml with 'names' or classes.txt")
