"""A CVAT 1.1 task: ``annotations.xml`` with its frames in ``images/`` (CVAT for video or for images).

CVAT for video: frame ``n`` is the ``n``-th image of ``images/`` in name order (how CVAT numbers a
task's frames; ``frame_000000.png``... in CVAT's and our exports). Each ``<track>`` gives its label
and id to its ``<box>`` es; an ``outside="1"`` box only says the object left, so it is not a box.
CVAT for images: each ``<image name=...>`` holds its own ``<box label=...>`` es. Classes come from
the task's (or project's) ``<labels>`` in their order. Rotated boxes have no upright box to store
and are left out, counted. A frame's seq comes from its image's path, so a re-import is recognised.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage
from server.importers.folders import image_files, path_seq

ANNOTATIONS_FILE, IMAGES_DIR = "annotations.xml", "images"


def is_cvat_task(folder: Path) -> bool:
    return (folder / ANNOTATIONS_FILE).is_file() and (folder / IMAGES_DIR).is_dir()


def read_cvat(root: Path, name: str) -> Dataset:
    xml_file = root / ANNOTATIONS_FILE
    try:
        document = ET.parse(xml_file).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DatasetImportError(f"cannot read CVAT annotations {xml_file}: {exc}") from None
    if document.tag != "annotations":
        raise DatasetImportError(f"{xml_file}: not CVAT XML (expected an <annotations> root)")
    class_names = tuple(dict.fromkeys(label.findtext("name", "") for label in document.iterfind("meta/*/labels/label")))
    class_index = {class_name: index for index, class_name in enumerate(class_names)}
    dataset = Dataset("cvat", name, class_names, [], label_files={xml_file})
    files = image_files(root / IMAGES_DIR)
    boxes: dict[Path, list[ImportedBox]] = {}
    try:
        for track in document.iterfind("track"):
            for box in track.iterfind("box"):
                if box.get("outside") == "1":
                    continue
                frame = int(box.get("frame"))
                if not 0 <= frame < len(files):
                    raise DatasetImportError(f"{xml_file}: a box on frame {frame}, but images/ holds {len(files)} images")
                _add(boxes, files[frame], box, track.get("label"), int(track.get("id")), class_index, dataset, xml_file)
        for image in document.iterfind("image"):
            path = root / IMAGES_DIR / image.get("name", "")
            for box in image.iterfind("box"):
                _add(boxes, path, box, box.get("label"), None, class_index, dataset, xml_file)
    except (TypeError, ValueError) as exc:
        raise DatasetImportError(f"{xml_file}: malformed CVAT box ({type(exc).__name__}: {exc})") from None
    for index, path in enumerate(files):
        dataset.images.append(ImportedImage(path, seq=path_seq(root, path), frame_index=index,
                                            boxes=tuple(boxes.get(path, ()))))
    return dataset


def _add(boxes: dict, path: Path, box: ET.Element, label: str | None, track_id: int | None, class_index: dict,
         dataset: Dataset, xml_file: Path) -> None:
    if label not in class_index:
        raise DatasetImportError(f"{xml_file}: label {label!r} is not among the task's labels")
    if float(box.get("rotation", 0)):
        dataset.skip("rotated box")
        return
    corners = tuple(float(box.get(key)) for key in ("xtl", "ytl", "xbr", "ybr"))
    boxes.setdefault(path, []).append(ImportedBox(corners, class_index[label], track_id))
