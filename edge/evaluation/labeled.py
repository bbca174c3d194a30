"""Labeled image sets to measure a detector against: COCO instances JSON or the YOLO layout.

Used by ``edgelabel-agent quantize --eval`` (and its benchmark) to put a number of mAP points on
what quantization costs. A collector export (``edgelabel-collector export coco|yolo``) is such a
set, made of the site's own verified frames.

Ground-truth classes are matched to the model's classes by name (case-insensitive); classes the
model does not know are dropped and counted, so a set with extra classes still measures the ones
the model has. COCO crowd regions (``iscrowd: 1``) are dropped too (counted): pycocotools ignores
detections on them, this simpler matcher would count them as misses.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.contract.errors import ConfigError
from edge.contract.files import IMAGE_SUFFIXES
from edge.frame_detections import Detections


@dataclass(frozen=True)
class LabeledImage:
    path: Path
    truth: Detections
    """Ground-truth boxes in pixel xyxy, class ids in the model's class space (confidence 1)."""


@dataclass(frozen=True)
class LabeledSet:
    images: list[LabeledImage]
    description: str
    """What was read, for logs and reports (format and path)."""
    dropped_boxes: dict[str, int] = field(default_factory=dict)
    """Boxes left out, by reason: ``class 'truck' unknown to the model``, ``crowd region``."""

    @property
    def boxes(self) -> int:
        return sum(len(image.truth.xyxy) for image in self.images)


def load_labeled_set(spec: str | Path, class_names: Sequence[str], limit: int | None = None) -> LabeledSet:
    """Read the set ``spec`` names, with classes mapped onto ``class_names``.

    ``spec`` is a COCO instances ``.json`` file; a directory holding one (``annotations/instances_*.json``
    or ``annotations.json``); a YOLO dataset directory (``images/`` and ``labels/``, class names from
    its ``data.yaml`` if there is one, else the model's class order); or a YOLO ``data.yaml``.
    ``limit`` keeps the first N images (sorted by file name). Raises ConfigError with one line.
    """
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"--eval: no such file or directory: {spec}")
    if path.is_file() and path.suffix.lower() == ".json":
        loaded = _coco(path, class_names)
    elif path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        loaded = _yolo(path.parent, class_names, data_yaml=path)
    elif path.is_dir():
        coco_files = sorted((path / "annotations").glob("instances_*.json")) + sorted(path.glob("annotations.json"))
        if len(coco_files) > 1:
            names = ", ".join(str(f.relative_to(path)) for f in coco_files)
            raise ConfigError(f"--eval {spec}: several COCO annotation files ({names}); give one of them")
        if coco_files:
            loaded = _coco(coco_files[0], class_names)
        elif (path / "labels").is_dir():
            yaml_files = [p for p in (path / "data.yaml", path / "dataset.yaml") if p.is_file()]
            loaded = _yolo(path, class_names, data_yaml=yaml_files[0] if yaml_files else None)
        else:
            raise ConfigError(
                f"--eval {spec}: not a labeled set: expected annotations/instances_*.json or annotations.json "
                "(COCO), or images/ and labels/ (YOLO)"
            )
    else:
        raise ConfigError(f"--eval {spec}: expected a COCO .json, a YOLO data.yaml or a dataset directory")
    if limit is not None:
        loaded = LabeledSet(loaded.images[:limit], loaded.description, loaded.dropped_boxes)
    if not loaded.images:
        raise ConfigError(f"--eval {spec}: no labeled images found")
    if loaded.boxes == 0:
        raise ConfigError(f"--eval {spec}: none of its boxes is of a class the model knows")
    return loaded


def _name_index(class_names: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, name in enumerate(class_names):
        index.setdefault(name.casefold(), position)
    return index


def _truth(xyxy: list, class_ids: list) -> Detections:
    return Detections.from_arrays(np.asarray(xyxy, np.float32).reshape(-1, 4), np.ones(len(class_ids), np.float32),
                                  np.asarray(class_ids, np.int64))


def _coco(json_path: Path, class_names: Sequence[str]) -> LabeledSet:
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        images = {int(i["id"]): i for i in doc["images"]}
        annotations = doc["annotations"]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--eval: cannot read {json_path}: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--eval {json_path}: not a COCO instances file ({type(exc).__name__}: {exc})") from None
    model_index = _name_index(class_names)
    dropped: Counter[str] = Counter()
    boxes: dict[int, tuple[list, list]] = {image_id: ([], []) for image_id in images}
    for annotation in annotations:
        try:
            image_id, category = int(annotation["image_id"]), categories[int(annotation["category_id"])]
            x, y, w, h = (float(v) for v in annotation["bbox"])
        except (KeyError, ValueError, TypeError):
            dropped["malformed annotation"] += 1
            continue
        if annotation.get("iscrowd"):
            dropped["crowd region"] += 1
            continue
        class_id = model_index.get(category.casefold())
        if class_id is None:
            dropped[f"class {category!r} unknown to the model"] += 1
            continue
        if image_id in boxes and w > 0 and h > 0:
            boxes[image_id][0].append([x, y, x + w, y + h])
            boxes[image_id][1].append(class_id)
    image_dirs = _coco_image_dirs(json_path)
    labeled = []
    for image_id, image in sorted(images.items(), key=lambda item: str(item[1].get("file_name", ""))):
        path = _find_image(str(image.get("file_name", "")), image_dirs)
        if path is None:
            raise ConfigError(f"--eval {json_path}: image {image.get('file_name')!r} not found in "
                              f"{', '.join(str(d) for d in image_dirs)}")
        labeled.append(LabeledImage(path, _truth(*boxes[image_id])))
    return LabeledSet(labeled, f"COCO {json_path}", dict(dropped))


def _coco_image_dirs(json_path: Path) -> list[Path]:
    """Where COCO layouts keep the images: ``images/<split>/`` beside ``annotations/``, and others."""
    folder = json_path.parent
    split = json_path.stem.removeprefix("instances_") if json_path.stem.startswith("instances_") else None
    candidates = [folder, folder / "images"]
    if folder.name == "annotations":
        root = folder.parent
        candidates += ([root / "images" / split, root / split] if split else []) + [root / "images", root]
    return [c for c in candidates if c.is_dir()]


def _find_image(file_name: str, directories: list[Path]) -> Path | None:
    for directory in directories:
        candidate = directory / file_name
        if candidate.is_file():
            return candidate
    return None


def _yolo(root: Path, class_names: Sequence[str], data_yaml: Path | None) -> LabeledSet:
    import cv2

    names = _yaml_names(data_yaml) if data_yaml is not None else None
    model_index = _name_index(class_names)
    images = sorted(p for p in (root / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"--eval {root}: no images under {root / 'images'}")
    dropped: Counter[str] = Counter()
    labeled = []
    for image_path in images:
        label_path = root / "labels" / image_path.relative_to(root / "images").with_suffix(".txt")
        rows = _yolo_rows(label_path)
        if not rows:
            labeled.append(LabeledImage(image_path, _truth([], [])))  # a background image
            continue
        height, width = _image_size(cv2, image_path)
        xyxy, class_ids = [], []
        for yolo_class, cx, cy, w, h in rows:
            if names is not None:
                name = names[yolo_class] if 0 <= yolo_class < len(names) else f"class {yolo_class}"
                class_id = model_index.get(name.casefold())
            else:
                name, class_id = f"class {yolo_class}", yolo_class if 0 <= yolo_class < len(class_names) else None
            if class_id is None:
                dropped[f"class {name!r} unknown to the model"] += 1
                continue
            xyxy.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
            class_ids.append(class_id)
        labeled.append(LabeledImage(image_path, _truth(xyxy, class_ids)))
    return LabeledSet(labeled, f"YOLO {root}", dict(dropped))


def _yolo_rows(label_path: Path) -> list[tuple[int, float, float, float, float]]:
    if not label_path.is_file():
        return []
    rows = []
    for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            rows.append((int(parts[0]), *(float(v) for v in parts[1:5])))
        except (ValueError, IndexError):
            raise ConfigError(f"--eval: {label_path}:{number}: expected 'class cx cy w h', got {line!r}") from None
    return rows


def _image_size(cv2, path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    if image is None:
        raise ConfigError(f"--eval: cannot read image {path}")
    return image.shape[:2]


def _yaml_names(data_yaml: Path) -> list[str]:
    try:
        import yaml
    except ImportError:
        raise ConfigError(f"--eval: reading {data_yaml} needs PyYAML: pip install 'edgelabel[quantize]'") from None
    try:
        doc = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--eval: cannot read {data_yaml}: {exc}") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        return [str(names[i]) for i in range(len(names))]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise ConfigError(f"--eval: {data_yaml} has no 'names' list or 0..N-1 mapping")
