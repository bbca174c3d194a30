"""Object detection on frames: letterbox in, a model on a runtime, decode and NMS out.

``letterbox`` (per-family input conventions), ``layouts`` (which export is this?), ``heads`` (one
decoder per output layout), ``decode`` (YOLOX grid, selection and NMS), ``tiling`` (tile plans and
their merge) are pure numpy and know nothing of runtimes; ``runtimes`` loads a
model on ONNX Runtime (``session`` opens its sessions) or OpenVINO, ``runner`` runs it between the
pure steps, and ``tiled`` slices large frames around a runner.
"""

from edge.detection.class_names import COCO_CLASSES
from edge.detection.runner import Detector

__all__ = ["COCO_CLASSES", "Detector"]
