"""``edgelabel-agent detect``: run the detector on still images and print what it finds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.commands.detector_args import detector_from_args
from edge.commands.options import add_detector_options
from edge.frame_detections import Detections

EPILOG = """\
example:
  edgelabel-agent detect --model yolox-nano photo.jpg frames/*.png
  edgelabel-agent detect --model ./yolox_nano.onnx dog.jpg --json --score-threshold 0.5
  edgelabel-agent detect --model yolov8n.onnx --provider cuda --labels classes.txt dog.jpg
  edgelabel-agent detect --model yolox_nano.int8.xml dog.jpg          # OpenVINO IR from 'quantize'
  edgelabel-agent detect --model yolox-nano match-3k.png --tiles 2x4 --streams 2   # sliced inference

--model takes a path to an .onnx file or an OpenVINO IR .xml (run on OpenVINO, the 'openvino'
extra), or a known name (yolox-nano) that is downloaded once into $EDGELABEL_CACHE (default
~/.cache/edgelabel). The output layout is recognised from the
graph: YOLOX raw head [1, N, 5+C], YOLOv5 [1, N, 5+C], YOLOv8/YOLO11 [1, 4+C, N], or end-to-end
exports with NMS inside; --layout forces one. Class names come from --labels, else the model's
own metadata, else COCO-80. Images more than twice the model's input are cut into overlapping
tiles (--tiles auto) whose boxes are merged into one set per image. Images that cannot be read are reported on stderr and skipped; the
exit code is then 1.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``detect`` subcommand on an ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        "detect",
        help="detect objects in images and print the boxes",
        description="Run the detector on each image and print its boxes (pixel xyxy), scores and classes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", type=Path, help="image files (JPEG, PNG, ...)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    detector = add_detector_options(parser)
    detector.add_argument("--iou-threshold", type=float, default=0.45, metavar="T",
                          help="overlap above which a weaker same-class box is dropped (default: %(default)s)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Detect on every image; 0 if all were read, 1 if any could not be (those are named on stderr)."""
    detector = detector_from_args(args, pipelined=False, iou_threshold=args.iou_threshold)
    results = []
    failed = 0
    for path in args.images:
        image = _read_image(path)
        if image is None:
            failed += 1
            continue
        result = _image_result(path, image, detector.detect(image), detector.class_names)
        plan = detector.plan(image.shape[:2])
        result["tiles"] = plan.describe if plan else "none"
        results.append(result)
    if args.json:
        doc = {
            "model": detector.model_id,
            "runtime": detector.runtime.tag,
            "layout": detector.layout,
            "classes": list(detector.class_names),
            "images": results,
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(f"{detector.model_id} ({detector.layout} layout) on {detector.runtime.description}", results)
    return 1 if failed else 0


def _read_image(path: Path) -> np.ndarray | None:
    """The image as BGR, or None after naming the file on stderr."""
    # Read bytes ourselves: cv2.imread cannot say why it failed and logs its own warnings.
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read image {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        print(f"error: cannot read image {path}: not a decodable image", file=sys.stderr)
    return image


def _image_result(path: Path, image: np.ndarray, detections: Detections, class_names) -> dict:
    height, width = image.shape[:2]
    boxes = [
        {
            "class_id": int(class_id),
            "class_name": class_names[class_id],
            "score": round(float(score), 4),
            # A tenth of a pixel, as on the wire.
            "xyxy": [round(float(v), 1) for v in xyxy],
        }
        for xyxy, score, class_id in zip(detections.xyxy, detections.confidence, detections.class_id)
    ]
    return {"path": str(path), "width": width, "height": height, "detections": boxes}


def _print_table(model: str, results: list[dict]) -> None:
    print(f"model {model}")
    for result in results:
        count = len(result["detections"])
        plural = "s" if count != 1 else ""
        print(f"\n{result['path']}  {result['width']}x{result['height']}  {count} detection{plural}"
              f"  (tiles: {result['tiles']})")
        if not count:
            continue
        name_width = max(5, *(len(d["class_name"]) for d in result["detections"]))
        print(f"  {'class':<{name_width}}  score  {'x1':>7} {'y1':>7} {'x2':>7} {'y2':>7}")
        for d in result["detections"]:
            corners = " ".join(f"{v:7.1f}" for v in d["xyxy"])
            print(f"  {d['class_name']:<{name_width}}  {d['score']:.3f}  {corners}")
