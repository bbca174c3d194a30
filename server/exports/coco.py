"""COCO detection in the standard layout: ``annotations/instances_default.json`` beside ``images/default/``.

That is the layout of the COCO zips (``instances_<split>.json``, one image folder per split) and the one
Datumaro and CVAT import; ``default`` is the split name both use for a dataset that is not split.
Synthetic frames are a split of their own, ``annotations/instances_synthetic.json`` beside
``images/synthetic/``, with the same categories.
Boxes are ``bbox`` xywh in pixels with ``area`` = w*h, ``iscrowd`` 0 and ``segmentation: []`` (the
spec requires the key; an empty list says "no mask, a box only"). Extra fields that COCO
readers ignore keep what COCO has no place for: ``track_id`` and, for pre-labels, ``score`` on an
annotation; ``frame_id``, ``device``, ``seq``, ``capture_ts``, ``verified`` (and ``synthetic``) on an image,
and ``model_id`` on a device's image: the model that pre-labeled it (kept when a reviewer verified it).
Category ids are 1.. in the export's class order. An imported frame keeps its source's file name
and COCO image id where they are unique in the export (:mod:`server.exports.naming`); other images
are numbered by frame id.
"""

from __future__ import annotations

import time
from pathlib import Path

from edge.contract.boxes import xyxy_to_xywh
from server.exports.filter import ExportData
from server.exports.options import ExportOptions, Progress
from server.exports.writing import place_image, rounded, write_json

SPLIT, SYNTHETIC_SPLIT = "default", "synthetic"
ANNOTATIONS_FILE = f"annotations/instances_{SPLIT}.json"
IMAGES_DIR = f"images/{SPLIT}"
LEGACY_ANNOTATIONS_FILE, LEGACY_IMAGES_DIR = "annotations.json", "images"
"""The layout of exports before the standard one (the importers still read it)."""


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    counts = _write_split(data.part(synthetic=False), root, SPLIT, options, progress)
    synthetic = data.part(synthetic=True)
    if synthetic.frames:
        counts.update({f"synthetic_{key}": value
                       for key, value in _write_split(synthetic, root, SYNTHETIC_SPLIT, options, progress).items()})
    return counts


def _write_split(data: ExportData, root: Path, split: str, options: ExportOptions, progress: Progress) -> dict[str, int]:
    category_id = {name: index + 1 for index, name in enumerate(data.class_names)}
    images, annotations = [], []
    for frame in progress(data.frames, len(data.frames), "coco"):
        file_name = f"{frame.stem}.jpg"
        place_image(frame.image, root / "images" / split / file_name, options.link_images)
        images.append({
            "id": frame.image_id, "file_name": file_name, "width": frame.width, "height": frame.height,
            "frame_id": frame.frame_id, "device": frame.device, "seq": frame.seq, "capture_ts": frame.capture_ts,
            "verified": frame.verified,
        })
        if frame.synthetic:
            images[-1]["synthetic"] = True
        if frame.prelabel_model is not None:
            images[-1]["model_id"] = frame.prelabel_model
        for box in frame.boxes:
            xywh = tuple(rounded(v) for v in xyxy_to_xywh(box.xyxy))
            annotation = {
                "id": len(annotations) + 1, "image_id": frame.image_id, "category_id": category_id[box.class_name],
                "bbox": list(xywh), "area": rounded(xywh[2] * xywh[3]),
                "segmentation": [], "iscrowd": 0,
            }
            if box.track_id is not None:
                annotation["track_id"] = box.track_id
            if box.score is not None:
                annotation["score"] = round(box.score, 4)
            annotations.append(annotation)
    write_json(root / "annotations" / f"instances_{split}.json", {
        "info": {"description": "edgelabel export", "version": "1.0",
                 "date_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": category_id[name], "name": name, "supercategory": ""} for name in data.class_names],
    })
    return {"images": len(images), "annotations": len(annotations)}
