"""Object detection on frames: letterbox in, ONNX model, decode and NMS out.

``letterbox`` (per-family input conventions), ``layouts`` (which export is this?), ``heads`` (one
decoder per output layout), ``decode`` (YOLOX grid, selection and NMS) and ``mean_ap`` are pure
numpy and know nothing of ONNX Runtime; ``session`` opens ONNX Runtime sessions and ``runner``
runs a model between the pure steps.
"""

from edge.detection.classes import COCO_CLASSES
from edge.detection.runner import Detector

__all__ = ["COCO_CLASSES", "Detector"]
