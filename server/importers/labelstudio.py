"""A Label Studio JSON export (or our ``labelstudio`` export): ``tasks.json`` and the task images.

Each task's ``data.image`` names its image; it is looked up under the dataset folder as given
(after any URL prefix up to ``images/``), then by file name in ``images/``. Its boxes are the
``rectanglelabels`` regions of its first annotation, or of its first prediction when no one
annotated it; ``x``, ``y``, ``width`` and ``height`` are percent of ``original_width`` and
``original_height``. A region's ``meta.track_id`` (our export keeps track ids there) is kept.
Rotated boxes have no upright box to store and are left out, counted. Classes come from the
``<Label value=...>`` entries of ``label_config.xml`` in their order, else from the regions, sorted.
The task id is the seq, so a re-import is recognised.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

from server.importers.dataset import Dataset, DatasetImportError, ImportedBox, ImportedImage

TASKS_FILE, CONFIG_FILE, IMAGES_DIR = "tasks.json", "label_config.xml", "images"


def looks_like_labelstudio(root: Path) -> bool:
    return (root / TASKS_FILE).is_file()


def read_labelstudio(root: Path, name: str) -> Dataset:
    tasks_file = root / TASKS_FILE
    try:
        tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetImportError(f"cannot read Label Studio tasks {tasks_file}: {exc}") from None
    if not isinstance(tasks, list):
        raise DatasetImportError(f"{tasks_file}: expected a list of tasks")
    try:
        regions = [(task, _regions(task)) for task in tasks]
        config_file, class_names = _class_names(root, [region for _, found in regions for region in found])
        class_index = {class_name: index for index, class_name in enumerate(class_names)}
        dataset = Dataset("labelstudio", name, class_names, [],
                          label_files={tasks_file} | ({config_file} if config_file else set()))
        for index, (task, found) in enumerate(regions):
            image = _find_image(root, str(task["data"]["image"]))
            if image is None:
                dataset.skip("image file not found")
                continue
            boxes, size = [], None
            for region in found:
                value = region["value"]
                if float(value.get("rotation", 0) or 0):
                    dataset.skip("rotated box")
                    continue
                width, height = int(region["original_width"]), int(region["original_height"])
                size = (width, height)
                x, y = float(value["x"]) * width / 100, float(value["y"]) * height / 100
                w, h = float(value["width"]) * width / 100, float(value["height"]) * height / 100
                track = (region.get("meta") or {}).get("track_id")
                boxes.append(ImportedBox((x, y, x + w, y + h), class_index[value["rectanglelabels"][0]],
                                         None if track is None else int(track)))
            dataset.images.append(ImportedImage(image, seq=int(task.get("id", index)), frame_index=index,
                                                boxes=tuple(boxes), expected_size=size))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetImportError(f"{tasks_file}: malformed Label Studio task ({type(exc).__name__}: {exc})") from None
    return dataset


def _regions(task: dict) -> list[dict]:
    """The rectangle regions of a task's first annotation, else of its first prediction."""
    for key in ("annotations", "predictions"):
        entries = [entry for entry in task.get(key) or [] if not entry.get("was_cancelled")]
        if entries:
            return [region for region in entries[0].get("result", []) if region.get("type") == "rectanglelabels"]
    return []


def _class_names(root: Path, regions: list[dict]) -> tuple[Path | None, tuple[str, ...]]:
    config = root / CONFIG_FILE
    if config.is_file():
        try:
            labels = [label.get("value") for label in ET.parse(config).getroot().iter("Label")]
        except ET.ParseError as exc:
            raise DatasetImportError(f"cannot read {config}: {exc}") from None
        if labels and all(labels):
            return config, tuple(dict.fromkeys(labels))
    return None, tuple(sorted({region["value"]["rectanglelabels"][0] for region in regions}))


def _find_image(root: Path, reference: str) -> Path | None:
    """The local file of a task's image: ``images/x.jpg``, or a URL or prefix ending in ``.../images/x.jpg``."""
    path = PurePosixPath(reference.split("?d=", 1)[-1])
    candidates = [root / path] if not path.is_absolute() else []
    if IMAGES_DIR in path.parts:
        candidates.append(root.joinpath(*path.parts[len(path.parts) - 1 - path.parts[::-1].index(IMAGES_DIR):]))
    candidates.append(root / IMAGES_DIR / path.name)
    return next((candidate for candidate in candidates if candidate.is_file()), None)
