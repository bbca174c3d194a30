"""Sliced inference for frames much larger than the detector's input: plan tiles, merge their boxes.

A 3072x1728 sideline camera letterboxed into 416x416 shrinks a far player to a few pixels, below
what YOLOX-Nano can find. Cutting the frame into overlapping tiles, each shrunk far less, finds
them again (the approach of SAHI, "slicing aided hyper inference"). Pure numpy: the detector that
runs the views is :class:`edge.detection.tiled.TiledDetector`.

* :func:`plan_tiles` picks the grid: ``auto`` takes the fewest rows and columns whose tiles are
  shrunk at most :data:`AUTO_MAX_SHRINK` times to fit the input, and no tiles at all for frames
  at most :data:`AUTO_MIN_SHRINK` times the input; ``RxC`` forces a grid.
* :func:`merge_views` puts the boxes of every view (the tiles and, optionally, the whole frame)
  into frame pixels and merges them per class, best first: a box that repeats another (IoU) is
  dropped, and a box cut by a tile's inner edge is joined with the box it is part of
  (intersection over the smaller box), so an object on a tile seam comes out as one box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.contract.boxes import iou_xyxy
from edge.frame_detections import Detections

AUTO_MAX_SHRINK = 2.5
"""``auto`` shrinks a tile at most this much to fit the input: 2x4 tiles for 3072x1728 at 416."""
AUTO_MIN_SHRINK = 2.0
"""``auto`` leaves frames alone that fit the input when shrunk at most this much."""
EDGE_MARGIN_FRACTION = 0.01
"""A box within this share of the tile's size from an inner tile edge counts as cut by it."""


@dataclass(frozen=True)
class TilePlan:
    rows: int
    cols: int
    overlap: float
    """Share of a tile's width (height) it shares with its neighbour."""
    full_frame: bool
    """Also run the whole frame shrunk to the input: objects larger than a tile are found whole."""

    def tiles_xyxy(self, frame_hw: tuple[int, int]) -> np.ndarray:
        """``(rows * cols, 4)`` int tile corners in frame pixels, row by row."""
        ys = _spans(frame_hw[0], self.rows, self.overlap)
        xs = _spans(frame_hw[1], self.cols, self.overlap)
        return np.array([[x0, y0, x1, y1] for y0, y1 in ys for x0, x1 in xs], np.int64).reshape(-1, 4)

    @property
    def describe(self) -> str:
        full = " + the whole frame" if self.full_frame else ""
        return f"{self.rows}x{self.cols} tiles, {self.overlap:.0%} overlap{full}"


def plan_tiles(
    tiles: str | tuple[int, int] | None,
    frame_hw: tuple[int, int],
    input_hw: tuple[int, int],
    overlap: float = 0.2,
    full_frame: bool = True,
) -> TilePlan | None:
    """The grid for a frame, or None when the frame is detected whole.

    Args:
        tiles: what :func:`edge.tile_spec.parse_tiles` returns.
        overlap: share of a tile shared with its neighbour; it must exceed the largest object's
            share of a tile for every object to lie whole in some tile. 0.2 is SAHI's default.
        full_frame: add the whole frame as one more view (large objects, cut by every tile).
    """
    check_overlap(overlap)
    if tiles is None:
        return None
    if tiles == "auto":
        shrink = max(frame_hw[0] / input_hw[0], frame_hw[1] / input_hw[1])
        if shrink <= AUTO_MIN_SHRINK:
            return None
        rows = _fewest_spans(frame_hw[0], input_hw[0] * AUTO_MAX_SHRINK, overlap)
        cols = _fewest_spans(frame_hw[1], input_hw[1] * AUTO_MAX_SHRINK, overlap)
    else:
        rows, cols = tiles
    if rows == cols == 1:
        return None
    return TilePlan(rows, cols, overlap, full_frame)


def check_overlap(overlap: float) -> None:
    """ValueError unless ``overlap`` is a share in [0, 0.9)."""
    if not 0.0 <= overlap < 0.9:
        raise ValueError(f"tile overlap must be in [0, 0.9), got {overlap}")


def _fewest_spans(length: int, longest: float, overlap: float) -> int:
    for count in range(1, 17):
        if length / (count - (count - 1) * overlap) <= longest:
            return count
    return 16


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    """``count`` equal, overlapping spans covering ``0..length`` exactly."""
    if count == 1:
        return [(0, length)]
    size = math.ceil(length / (count - (count - 1) * overlap))
    step = (length - size) / (count - 1)
    return [(round(i * step), min(length, round(i * step) + size)) for i in range(count)]


@dataclass(frozen=True)
class View:
    """Detections of one view, in its own pixels, and where the view lies in the frame."""

    detections: Detections
    xyxy: tuple[int, int, int, int]
    """The view's rectangle in frame pixels (the whole frame for the full view)."""
    is_tile: bool


def merge_views(
    views: list[View],
    frame_hw: tuple[int, int],
    iou_threshold: float = 0.5,
    ios_threshold: float = 0.6,
    max_detections: int = 300,
) -> Detections:
    """One set of boxes for the frame from every view's boxes (see the module docstring).

    Args:
        iou_threshold: two boxes of a class overlapping this much are the same object (the
            weaker is dropped). Lower merges more, including neighbours in a crowd.
        ios_threshold: a box cut by a tile edge is joined with a box of its class that covers this
            share of the smaller of the two (the union is kept). Lower joins more readily.
    """
    xyxy_parts, score_parts, class_parts, cut_parts = [], [], [], []
    for view in views:
        found = view.detections
        if not len(found.xyxy):
            continue
        x0, y0 = view.xyxy[0], view.xyxy[1]
        frame_xyxy = found.xyxy.astype(np.float64) + np.array([x0, y0, x0, y0], np.float64)
        xyxy_parts.append(frame_xyxy)
        score_parts.append(found.confidence.astype(np.float64))
        class_parts.append(found.class_id.astype(np.int64))
        cut_parts.append(_cut_by_inner_edge(frame_xyxy, view, frame_hw) if view.is_tile else np.zeros(len(frame_xyxy), bool))
    if not xyxy_parts:
        return Detections.empty()
    xyxy = np.concatenate(xyxy_parts)
    score = np.concatenate(score_parts)
    class_id = np.concatenate(class_parts)
    cut = np.concatenate(cut_parts)

    kept_xyxy, kept_score, kept_class = [], [], []
    for klass in np.unique(class_id):
        index = np.flatnonzero(class_id == klass)
        index = index[np.argsort(-score[index], kind="stable")]
        boxes, cuts, scores = xyxy[index], cut[index], score[index]
        alive = np.ones(len(index), bool)
        for position in range(len(index)):
            if not alive[position]:
                continue
            alive[position] = False
            merged = boxes[position].copy()
            rest = np.flatnonzero(alive)
            if len(rest):
                iou = iou_xyxy(merged[None], boxes[rest])[0]
                ios = _intersection_over_smaller(merged, boxes[rest])
                either_cut = cuts[rest] | cuts[position]
                same = (iou >= iou_threshold) | (either_cut & (ios >= ios_threshold))
                # Where a cut box is involved, the object reaches as far as both boxes together;
                # two whole boxes of one object are duplicates, and the stronger one stands.
                for other in rest[same & either_cut]:
                    merged = _union(merged, boxes[other])
                alive[rest[same]] = False
            kept_xyxy.append(merged)
            kept_score.append(scores[position])
            kept_class.append(klass)
    order = np.argsort(-np.asarray(kept_score), kind="stable")[:max_detections]
    merged_xyxy = np.asarray(kept_xyxy, np.float32)[order]
    np.clip(merged_xyxy[:, 0::2], 0, frame_hw[1], out=merged_xyxy[:, 0::2])
    np.clip(merged_xyxy[:, 1::2], 0, frame_hw[0], out=merged_xyxy[:, 1::2])
    return Detections.from_arrays(merged_xyxy, np.asarray(kept_score, np.float32)[order],
                                  np.asarray(kept_class, np.int64)[order])


def _cut_by_inner_edge(frame_xyxy: np.ndarray, view: View, frame_hw: tuple[int, int]) -> np.ndarray:
    """Boxes touching an edge of the tile that is not an edge of the frame."""
    x0, y0, x1, y1 = view.xyxy
    margin_x = max(1.0, EDGE_MARGIN_FRACTION * (x1 - x0))
    margin_y = max(1.0, EDGE_MARGIN_FRACTION * (y1 - y0))
    cut = np.zeros(len(frame_xyxy), bool)
    if x0 > 0:
        cut |= frame_xyxy[:, 0] <= x0 + margin_x
    if y0 > 0:
        cut |= frame_xyxy[:, 1] <= y0 + margin_y
    if x1 < frame_hw[1]:
        cut |= frame_xyxy[:, 2] >= x1 - margin_x
    if y1 < frame_hw[0]:
        cut |= frame_xyxy[:, 3] >= y1 - margin_y
    return cut


def _intersection_over_smaller(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    inter_w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    other_areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    smaller = np.minimum(area, other_areas)
    return np.divide(inter_w * inter_h, smaller, out=np.zeros(len(others)), where=smaller > 0)


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])
