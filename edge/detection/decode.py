"""Turn a detector's raw output into boxes: decode one head layout, then select and suppress.

Pure numpy. The YOLOX grid decode lives here; the other layouts' decoders are in :mod:`.heads`.
Dense heads give ``(xyxy, class_scores)`` per anchor point and go through :func:`select_and_nms`;
end-to-end heads give one labelled box per row and go through :func:`select_labelled` (the same
thresholding, class-aware NMS and cap, without the best-class step).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from edge.contract.boxes import nms_class_aware

YOLOX_STRIDES = (8, 16, 32)


class YoloxGrids(NamedTuple):
    """Per anchor point of a YOLOX head: its cell position and the stride of its level."""

    grid_xy: np.ndarray
    """(N, 2) float32 cell column and row, in the head's output order."""
    stride: np.ndarray
    """(N, 1) float32 pixels per cell at that point's level."""


class Selection(NamedTuple):
    """The boxes kept after thresholding and NMS, best first (columns of ``Detections``)."""

    xyxy: np.ndarray
    """(K, 4) float32, same coordinate space as the boxes passed in."""
    confidence: np.ndarray
    """(K,) float32."""
    class_id: np.ndarray
    """(K,) int64."""


def yolox_grids(input_hw: tuple[int, int], strides: tuple[int, ...] = YOLOX_STRIDES) -> YoloxGrids:
    """Anchor-point grid of a YOLOX head for one input size (computed once per size, then cached).

    Points are ordered level by level (stride 8 first), row-major within a level, as the head
    concatenates them. The arrays are read-only because they are shared through the cache.
    """
    return _yolox_grids(tuple(int(v) for v in input_hw), tuple(int(s) for s in strides))


@lru_cache(maxsize=16)
def _yolox_grids(input_hw: tuple[int, int], strides: tuple[int, ...]) -> YoloxGrids:
    grid_parts, stride_parts = [], []
    for stride in strides:
        # Integer division as in YOLOX's reference decoder; inputs are multiples of 32 in practice.
        rows, cols = input_hw[0] // stride, input_hw[1] // stride
        row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        grid_parts.append(np.stack([col, row], axis=-1).reshape(-1, 2))
        stride_parts.append(np.full((rows * cols, 1), stride))
    grid_xy = np.concatenate(grid_parts).astype(np.float32)
    stride = np.concatenate(stride_parts).astype(np.float32)
    grid_xy.flags.writeable = False
    stride.flags.writeable = False
    return YoloxGrids(grid_xy, stride)


def decode_yolox(raw: np.ndarray, grid_xy: np.ndarray, stride: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode a YOLOX raw head output ``(N, 5 + C)`` of one image.

    Each row is ``(dx, dy, log w, log h, objectness, C class scores)``, already sigmoid-activated
    where it should be. Returns ``xyxy`` ``(N, 4)`` in network-input pixels and ``class_scores``
    ``(N, C)`` = objectness x class score.
    """
    raw = np.asarray(raw, dtype=np.float32)
    if raw.ndim != 2 or raw.shape[1] < 6 or raw.shape[0] != len(grid_xy):
        raise ValueError(f"raw: expected shape ({len(grid_xy)}, 5 + C), got {raw.shape}")
    center = (raw[:, 0:2] + grid_xy) * stride
    # A garbage logit can overflow exp to inf; that box then fails the finiteness check in
    # select_and_nms instead of raising here.
    with np.errstate(over="ignore"):
        half_size = np.exp(raw[:, 2:4]) * stride / 2
    xyxy = np.concatenate([center - half_size, center + half_size], axis=1)
    class_scores = raw[:, 4:5] * raw[:, 5:]
    return xyxy, class_scores


def select_and_nms(
    xyxy: np.ndarray,
    class_scores: np.ndarray,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> Selection:
    """Keep each point's best class, drop weak and non-finite boxes, then class-aware NMS.

    One label per box (its best class), as YOLOX's own post-processing does: a labelling tool
    wants one proposal per object, not a stack of alternatives.

    Args:
        xyxy: ``(N, 4)`` candidate boxes.
        class_scores: ``(N, C)`` scores in [0, 1].
        score_threshold: minimum score to keep a box. Raising it gives fewer false positives
            but misses small, occluded or unusual objects (exactly the frames worth labelling);
            lowering it keeps more candidates for review at the cost of noise.
        iou_threshold: overlap above which a lower-scored box of the same class is suppressed.
            Lowering it removes more duplicates but also merges distinct objects that overlap
            (crowds, parked cars); raising it keeps both but lets duplicates through.
        max_detections: cap on boxes kept, best first. Bounds the NMS work and the message size
            on pathological frames; too low silently drops real objects in dense scenes.
    """
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    class_scores = np.asarray(class_scores, dtype=np.float32)
    if class_scores.ndim != 2 or len(class_scores) != len(xyxy):
        raise ValueError(f"class_scores: expected shape ({len(xyxy)}, C), got {class_scores.shape}")
    if class_scores.shape[1] == 0 or len(xyxy) == 0:
        return _empty_selection()
    class_id = class_scores.argmax(axis=1)
    confidence = np.take_along_axis(class_scores, class_id[:, None], axis=1)[:, 0]
    return select_labelled(xyxy, confidence, class_id, score_threshold, iou_threshold, max_detections)


def select_labelled(
    xyxy: np.ndarray,
    confidence: np.ndarray,
    class_id: np.ndarray,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> Selection:
    """Drop weak and non-finite boxes that already carry one label each, then class-aware NMS.

    The arguments mean what they mean in :func:`select_and_nms`.
    """
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    confidence = np.asarray(confidence, dtype=np.float32).reshape(-1)
    class_id = np.asarray(class_id).reshape(-1)
    if not len(confidence) == len(class_id) == len(xyxy):
        raise ValueError(
            f"confidence, class_id: expected {len(xyxy)} rows each, got {len(confidence)} and {len(class_id)}"
        )
    candidate = (confidence >= score_threshold) & np.isfinite(confidence) & np.isfinite(xyxy).all(axis=1)
    xyxy, confidence, class_id = xyxy[candidate], confidence[candidate], class_id[candidate]
    kept = nms_class_aware(xyxy, confidence, class_id, iou_threshold, max_detections)
    return Selection(xyxy[kept], confidence[kept], class_id[kept].astype(np.int64))


def _empty_selection() -> Selection:
    return Selection(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
