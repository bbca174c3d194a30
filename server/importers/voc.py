"""A Pascal VOC detection dataset: ``Annotations/<name>.xml`` per image beside ``JPEGImages/``.

Each XML names its image (``<filename>`` in ``JPEGImages/``), its size and its objects; a box is
``<bndbox>`` ``xmin ymin xmax ymax`` in pixels. Classes come from ``labelmap.txt`` (Datumaro and
CVAT write it; ``background`` is not an object class unless a box has it) or ``labels.txt`` (one a line), in their
order; without either, from the objects' names, sorted. The ``<track_id>`` our VOC export adds to
an object is kept. A frame's seq comes from its XML's path, so a re-import is recognised.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage
from server.importers.folders import path_seq

ANNOTATIONS_DIR, IMAGES_DIR = "Annotations", "JPEGImages"
LABELMAP_FILE, LABELS_FILE = "labelmap.txt", "labels.txt"
BACKGROUND = "background"


def looks_like_voc(root: Path) -> bool:
    return (root / ANNOTATIONS_DIR).is_dir() and (root / IMAGES_DIR).is_dir()


def read_voc(root: Path, name: str) -> Dataset:
    files = sorted((root / ANNOTATIONS_DIR).glob("*.xml"))
    if not files:
        raise DatasetImportError(f"no {ANNOTATIONS_DIR}/*.xml in {root}")
    documents = [(path, _parse(path)) for path in files]
    names_file, class_names = _class_names(root, documents)
    class_index = {class_name: index for index, class_name in enumerate(class_names)}
    dataset = Dataset("voc", name, class_names, [], label_files=set(files) | ({names_file} if names_file else set()))
    for index, (path, annotation) in enumerate(documents):
        image = root / IMAGES_DIR / _text(annotation, "filename", path)
        if not image.is_file():
            dataset.skip("image file not found")
            continue
        boxes = []
        for obj in annotation.iter("object"):
            class_name = _text(obj, "name", path)
            if class_name not in class_index:
                raise DatasetImportError(f"{path}: class {class_name!r} is not in {names_file}")
            corners = tuple(_number(obj, f"bndbox/{tag}", path) for tag in ("xmin", "ymin", "xmax", "ymax"))
            track = obj.findtext("track_id")
            boxes.append(ImportedBox(corners, class_index[class_name], int(track) if track else None))
        size = (int(_number(annotation, "size/width", path)), int(_number(annotation, "size/height", path)))
        dataset.images.append(ImportedImage(image, seq=path_seq(root, path), frame_index=index, boxes=tuple(boxes),
                                            expected_size=size if all(size) else None))
    return dataset


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DatasetImportError(f"cannot read VOC annotation {path}: {exc}") from None


def _class_names(root: Path, documents: list[tuple[Path, ET.Element]]) -> tuple[Path | None, tuple[str, ...]]:
    """The file that names the classes (None: taken from the objects), and the names."""
    labelmap, labels = root / LABELMAP_FILE, root / LABELS_FILE
    if labelmap.is_file():
        lines = labelmap.read_text(encoding="utf-8").splitlines()
        names = [line.split(":", 1)[0].strip() for line in lines if line.strip() and not line.startswith("#")]
        used = {obj.findtext("name", "").strip() for _, document in documents for obj in document.iter("object")}
        return labelmap, tuple(name for name in names if name and (name != BACKGROUND or BACKGROUND in used))
    if labels.is_file():
        return labels, tuple(line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip())
    return None, tuple(sorted({obj.findtext("name", "").strip() for _, document in documents
                               for obj in document.iter("object")} - {""}))


def _text(element: ET.Element, path_in_xml: str, file: Path) -> str:
    text = (element.findtext(path_in_xml) or "").strip()
    if not text:
        raise DatasetImportError(f"{file}: no <{path_in_xml}>")
    return text


def _number(element: ET.Element, path_in_xml: str, file: Path) -> float:
    text = _text(element, path_in_xml, file)
    try:
        return float(text)
    except ValueError:
        raise DatasetImportError(f"{file}: <{path_in_xml}> is not a number: {text!r}") from None
