"""A COCO detection dataset: an image folder and an ``instances_*.json`` file.

Boxes come from ``bbox`` (xywh pixels). Crowd regions (``iscrowd`` 1) are not
objects a detector should learn one box for, so they are left out and counted. Classes keep the
category order (by id); the frame's seq is the COCO image id, so a re-import is recognised.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.contract.boxes import xywh_to_xyxy
from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage


def read_coco(image_dir: Path, annotations_file: Path, name: str) -> Dataset:
    try:
        document = json.loads(Path(annotations_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetImportError(f"COCO annotations file not found: {annotations_file}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetImportError(f"cannot read COCO annotations {annotations_file}: {exc}") from None
    if not isinstance(document, dict) or not all(isinstance(document.get(k), list) for k in ("images", "categories")):
        raise DatasetImportError(f"{annotations_file}: not a COCO detection file (expected 'images' and 'categories' lists)")
    try:
        categories = sorted((int(c["id"]), str(c["name"])) for c in document["categories"])
        class_index = {category_id: index for index, (category_id, _) in enumerate(categories)}
        boxes: dict[int, list[ImportedBox]] = {}
        dataset = Dataset("coco", name, tuple(name for _, name in categories), [], label_files={Path(annotations_file)})
        sizes = {int(image["id"]): (int(image["width"]), int(image["height"])) for image in document["images"]}
        for annotation in document.get("annotations", []):
            if annotation.get("iscrowd", 0):
                dataset.skip("crowd region")
                continue
            image_id = int(annotation["image_id"])
            xyxy = xywh_to_xyxy(tuple(float(v) for v in annotation["bbox"]))
            track_id = annotation.get("track_id")
            boxes.setdefault(image_id, []).append(
                ImportedBox(xyxy, class_index[int(annotation["category_id"])], None if track_id is None else int(track_id)))
        images = sorted(document["images"], key=lambda image: int(image["id"]))
        for index, image in enumerate(images):
            path = _find_image(Path(image_dir), str(image["file_name"]))
            if path is None:
                dataset.skip("image file not found")
                continue
            image_id = int(image["id"])
            dataset.images.append(ImportedImage(path, seq=image_id, frame_index=index, boxes=tuple(boxes.get(image_id, ())),
                                                expected_size=sizes[image_id], image_id=image_id))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetImportError(f"{annotations_file}: malformed COCO entry ({type(exc).__name__}: {exc})") from None
    return dataset


def _find_image(image_dir: Path, file_name: str) -> Path | None:
    for candidate in (image_dir / file_name, image_dir / Path(file_name).name):
        if candidate.is_file():
            return candidate
    return None
