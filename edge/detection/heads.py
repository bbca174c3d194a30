"""One decoder per output layout: raw model outputs in, kept boxes (network-input pixels) out.

Pure numpy. A head knows which model outputs it reads, checks their shapes on every frame (an
export with symbolic dimensions can only be checked on real results), decodes its layout into
boxes with scores, and hands them to the shared score filter and NMS (:mod:`.decode`).

Box conventions, per layout:

* ``yolox``: raw head ``[1, N, 5 + C]``, ``(dx, dy, log w, log h, objectness, C scores)`` on the
  stride 8/16/32 grid (see :func:`.decode.decode_yolox`).
* ``yolov5``: decoded ``[1, N, 5 + C]``, ``(cx, cy, w, h, objectness, C scores)`` in input pixels
  (YOLOv5 and YOLOv7 with 3 anchors per cell; also anchor-free decoded heads such as YOLOv6).
* ``yolov8``: ``[1, 4 + C, N]``, ``(cx, cy, w, h, C scores)`` per column, no objectness
  (YOLOv8, YOLO11, YOLOv5u and other Ultralytics anchor-free exports).
* ``end2end``: NMS already inside the graph, one labelled box per row:
  ``[1, N, 6]`` rows ``(x1, y1, x2, y2, score, class)`` (Ultralytics ``nms=True``, YOLOv10, YOLO26);
  ``[1, N, 7]`` or ``[N, 7]`` rows ``(batch, x1, y1, x2, y2, class, score)`` (YOLOv7 ``--end2end``);
  or separate outputs: boxes ``[1, N, 4]`` xyxy, scores ``[1, N]``, labels ``[1, N]`` and an optional
  count ``[1, 1]`` (TensorRT EfficientNMS style), or dets ``[1, N, 5]`` + labels ``[1, N]`` (mmdeploy).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from edge.detection.decode import (
    Selection,
    YoloxGrids,
    decode_yolox,
    select_and_nms,
    select_labelled,
)


class OutputShapeError(ValueError):
    """A model output does not have the shape its layout promises."""


class NmsSettings(NamedTuple):
    """The score threshold and NMS arguments of :func:`.decode.select_and_nms`, which documents what they trade."""

    score_threshold: float
    iou_threshold: float
    max_detections: int


class Head(ABC):
    """Decoder for one output layout; ``output_names`` are the model outputs it reads, in order."""

    layout: str
    output_names: tuple[str, ...]

    @abstractmethod
    def kept_boxes(self, outputs: Sequence[np.ndarray], settings: NmsSettings) -> Selection:
        """Boxes kept from one frame's ``outputs``, best first, in network-input pixels."""


class YoloxHead(Head):
    layout = "yolox"

    def __init__(self, output_name: str, grids: YoloxGrids, num_classes: int):
        self.output_names = (output_name,)
        self._grids = grids
        self._expected = (1, len(grids.grid_xy), 5 + num_classes)

    def kept_boxes(self, outputs, settings):
        raw = _check_shape(outputs[0], self._expected)
        xyxy, class_scores = decode_yolox(raw[0], self._grids.grid_xy, self._grids.stride)
        return select_and_nms(xyxy, class_scores, *settings)


class Yolov5Head(Head):
    layout = "yolov5"

    def __init__(self, output_name: str, num_points: int | None, num_classes: int):
        """``num_points`` None accepts any N (a layout forced by the user on an unusual grid)."""
        self.output_names = (output_name,)
        self._expected = (1, num_points, 5 + num_classes)

    def kept_boxes(self, outputs, settings):
        rows = _check_shape(outputs[0], self._expected)[0]
        xyxy, class_scores = decode_yolov5(rows)
        return select_and_nms(xyxy, class_scores, *settings)


class Yolov8Head(Head):
    layout = "yolov8"

    def __init__(self, output_name: str, num_points: int | None, num_classes: int):
        self.output_names = (output_name,)
        self._expected = (1, 4 + num_classes, num_points)

    def kept_boxes(self, outputs, settings):
        channels = _check_shape(outputs[0], self._expected)[0]
        xyxy, class_scores = decode_yolov8(channels)
        return select_and_nms(xyxy, class_scores, *settings)


class EndToEndRowsHead(Head):
    """``[1, N, 6]`` (Ultralytics order) or ``[1, N, 7]`` / ``[N, 7]`` (YOLOv7 order) rows."""

    layout = "end2end"

    def __init__(self, output_name: str, row_length: int):
        if row_length not in (6, 7):
            raise ValueError(f"row_length: expected 6 or 7, got {row_length}")
        self.output_names = (output_name,)
        self._row_length = row_length

    def kept_boxes(self, outputs, settings):
        rows = np.asarray(outputs[0], dtype=np.float32)
        if self._row_length == 7 and rows.ndim == 2:
            rows = rows[np.newaxis]  # YOLOv7's ONNX Runtime export drops the batch axis
        _check_shape(rows, (1, None, self._row_length))
        rows = rows[0]
        if self._row_length == 6:
            xyxy, confidence, class_id = rows[:, 0:4], rows[:, 4], rows[:, 5]
        else:
            xyxy, class_id, confidence = rows[:, 1:5], rows[:, 5], rows[:, 6]
        return _end_to_end_boxes(xyxy, confidence, class_id, settings)


class EndToEndSeparateHead(Head):
    """Boxes, scores and labels as separate outputs (``scores_name`` None: dets ``[1, N, 5]``)."""

    layout = "end2end"

    def __init__(self, boxes_name: str, scores_name: str | None, labels_name: str, count_name: str | None):
        names = [boxes_name] + ([scores_name] if scores_name else []) + [labels_name]
        self.output_names = tuple(names + ([count_name] if count_name else []))
        self._has_scores = scores_name is not None
        self._has_count = count_name is not None

    def kept_boxes(self, outputs, settings):
        outputs = list(outputs)
        boxes = _check_shape(np.asarray(outputs.pop(0), np.float32), (1, None, 4 if self._has_scores else 5))[0]
        if self._has_scores:
            scores = _check_shape(np.asarray(outputs.pop(0), np.float32), (1, len(boxes)))[0]
        else:
            boxes, scores = boxes[:, :4], boxes[:, 4]
        labels = _check_shape(np.asarray(outputs.pop(0)), (1, len(boxes)))[0]
        if self._has_count:
            # Rows past the count are padding (zeros or -1), not detections.
            count = int(np.asarray(outputs.pop(0)).reshape(-1)[0])
            boxes, scores, labels = boxes[:count], scores[:count], labels[:count]
        return _end_to_end_boxes(boxes, scores, labels, settings)


def decode_yolov5(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 5 + C)`` rows of ``(cx, cy, w, h, objectness, C scores)`` to ``xyxy`` and obj x class scores."""
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] < 6:
        raise ValueError(f"rows: expected shape (N, 5 + C), got {rows.shape}")
    return cxcywh_to_xyxy(rows[:, 0:4]), rows[:, 4:5] * rows[:, 5:]


def decode_yolov8(channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(4 + C, N)`` columns of ``(cx, cy, w, h, C scores)`` to ``xyxy`` and class scores."""
    channels = np.asarray(channels, dtype=np.float32)
    if channels.ndim != 2 or channels.shape[0] < 5:
        raise ValueError(f"channels: expected shape (4 + C, N), got {channels.shape}")
    return cxcywh_to_xyxy(channels[0:4].T), channels[4:].T


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    center, half_size = cxcywh[:, 0:2], cxcywh[:, 2:4] / 2
    return np.concatenate([center - half_size, center + half_size], axis=1)


def _end_to_end_boxes(xyxy, confidence, class_id, settings: NmsSettings) -> Selection:
    class_id = np.asarray(class_id)
    if class_id.dtype.kind == "f":
        # Labels exported as floats; NaN becomes -1 and is dropped below with the padding rows.
        class_id = np.rint(np.nan_to_num(class_id, nan=-1.0)).astype(np.int64)
    labelled = class_id >= 0
    # The graph's NMS may have used other thresholds; running ours over its few hundred rows is
    # cheap and makes --iou-threshold mean the same for every layout.
    return select_labelled(
        np.asarray(xyxy)[labelled], np.asarray(confidence)[labelled], class_id[labelled], *settings
    )


def _check_shape(array: np.ndarray, expected: tuple[int | None, ...]) -> np.ndarray:
    """``array`` if its shape matches ``expected`` (None matches any length), else OutputShapeError."""
    shape = np.shape(array)
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
        wanted = "[" + ", ".join("N" if e is None else str(e) for e in expected) + "]"
        raise OutputShapeError(f"expected output shape {wanted}, got {list(shape)}")
    return array
