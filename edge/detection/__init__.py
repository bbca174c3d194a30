"""Object detection on frames: letterbox in, ONNX model, decode and NMS out.

``letterbox`` and ``decode`` are pure numpy and know nothing of ONNX Runtime; ``runner`` runs a
model between them.
"""

from edge.detection.classes import COCO_CLASSES
from edge.detection.runner import OnnxDetector

__all__ = ["COCO_CLASSES", "OnnxDetector"]
