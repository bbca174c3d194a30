"""COCO bbox evaluation of a detector on the shared COCO images, with pycocotools (the reference
implementation). Shared by the accuracy tests and the quantization benchmark."""

import contextlib
import io
from pathlib import Path

import cv2

from edge.detection import COCO_CLASSES


def coco_eval(detector, coco_dir: Path) -> tuple[float, float]:
    """(mAP@[.5:.95], AP@.5) of ``detector.detect`` on ``coco_dir``'s images against its annotations."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(coco_dir / "annotations" / "instances_train2017.json"))
    category_ids = sorted(truth.getCatIds())  # model class i is the i-th COCO category by id
    names = [truth.loadCats(c)[0]["name"] for c in category_ids]
    if names != list(COCO_CLASSES):
        raise ValueError("the annotation file's categories are not COCO-80 in the model's order")
    results = []
    for image in truth.loadImgs(truth.getImgIds()):
        found = detector.detect(cv2.imread(str(coco_dir / "images" / "train2017" / image["file_name"])))
        for (x1, y1, x2, y2), score, class_id in zip(found.xyxy, found.confidence, found.class_id):
            results.append({
                "image_id": image["id"],
                "category_id": category_ids[class_id],
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],  # COCO boxes are xywh
                "score": float(score),
            })
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])
