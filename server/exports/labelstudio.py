"""Label Studio: ``tasks.json`` (a list of tasks to import), ``label_config.xml`` and ``images/``.

A verified frame carries its boxes as an ``annotations`` entry, a frame the model pre-labeled as
``predictions`` (with the model's scores), so reviewers in Label Studio see which is which; a
synthetic frame's constructed boxes are an ``annotations`` entry, and its ``data.synthetic`` is true. A
device's frame names the model that pre-labeled it in ``data.model_id`` (verified or not) and, as
predictions, in their ``model_version``. Boxes
are ``rectanglelabels`` in percent of the image. A track id is kept in the region's ``meta``.
``data.image`` is ``--image-url-prefix`` + ``images/<name>.jpg`` (``<name>``: see
:mod:`server.exports.naming`): point the prefix at wherever
Label Studio can fetch the folder (local files storage, a bucket, a web server).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from edge.contract.boxes import xyxy_to_percent_xywh
from server.exports.filter import ExportBox, ExportData, ExportFrame
from server.exports.options import ExportOptions, Progress
from server.exports.writing import place_image, write_json, write_text

TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
FROM_NAME, TO_NAME = "label", "image"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    tasks, counts = [], {"tasks": 0, "annotations": 0, "predictions": 0}
    for frame in progress(data.frames, len(data.frames), "labelstudio"):
        image = f"images/{frame.stem}.jpg"
        place_image(frame.image, root / image, options.link_images)
        results = [_region(frame, number, box) for number, box in enumerate(frame.boxes)]
        task = {"id": frame.frame_id,
                "data": {"image": options.image_url_prefix + image, "frame_id": frame.frame_id,
                         "device": frame.device, "seq": frame.seq, "capture_ts": frame.capture_ts}}
        if frame.synthetic:
            task["data"]["synthetic"] = True
        if frame.prelabel_model is not None:
            task["data"]["model_id"] = frame.prelabel_model
        if frame.verified or frame.synthetic:  # a synthetic frame's boxes are exact by construction
            task["annotations"] = [{"result": results, "ground_truth": False}]
            counts["annotations"] += 1
        else:
            scores = [box.score for box in frame.boxes if box.score is not None]
            task["predictions"] = [{"model_version": frame.model_id, "result": results,
                                    "score": round(min(scores), 4) if scores else 1.0}]
            counts["predictions"] += 1
        tasks.append(task)
    write_json(root / TASKS_FILE, tasks)
    labels = "".join(f"    <Label value={quoteattr(name)}/>\n" for name in data.class_names)
    write_text(root / CONFIG_FILE, f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
                                   f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}'
                                   "  </RectangleLabels>\n</View>\n")
    counts["tasks"] = len(tasks)
    return counts


def _region(frame: ExportFrame, number: int, box: ExportBox) -> dict:
    x, y, w, h = (round(v, 4) for v in xyxy_to_percent_xywh(box.xyxy, frame.width, frame.height))
    region = {"id": f"{frame.frame_id}-{number}", "type": "rectanglelabels", "from_name": FROM_NAME,
              "to_name": TO_NAME, "original_width": frame.width, "original_height": frame.height,
              "image_rotation": 0,
              "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [box.class_name]}}
    if box.score is not None:
        region["score"] = round(box.score, 4)
    if box.track_id is not None:
        region["meta"] = {"track_id": box.track_id}
    return region
