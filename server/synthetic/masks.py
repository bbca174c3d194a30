"""An object's mask inside its verified box, as cheaply as it can be had.

1. ``foreground``: where the frame differs from the estimated background (largest channel
   difference above :data:`DIFFERENCE_THRESHOLD`), cleaned by an opening and a closing, largest
   connected component, holes filled;
2. ``grabcut``: when that fails its checks, OpenCV GrabCut inside the box, seeded with the
   difference mask;
3. ``box``: the whole box, when neither gives a plausible shape.

A mask is plausible when it covers between :data:`MIN_MASK_SHARE` and :data:`MAX_MASK_SHARE` of
the box and spans at least :data:`MIN_HEIGHT_SPAN` of its height (an upright object fills its box
top to bottom; a sliver or a blob of shadow does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MASK_KINDS = ("foreground", "grabcut", "box")

DIFFERENCE_THRESHOLD = 28
"""Grey levels (largest of the three channels) above which a pixel differs from the background.
Lower catches low-contrast clothing but also JPEG noise and lighting drift; higher leaves holes."""

MIN_MASK_SHARE, MAX_MASK_SHARE = 0.2, 0.95
MIN_HEIGHT_SPAN = 0.7

GRABCUT_ITERATIONS = 3
GRABCUT_CONTEXT = 0.25
"""GrabCut sees the box grown by this share on each side, all of it marked background."""


@dataclass(frozen=True)
class ObjectMask:
    kind: str
    """One of :data:`MASK_KINDS`."""
    mask: np.ndarray
    """(box height, box width) bool over the integer box."""
    difference_share: float
    """Share of the box's pixels that differ from the background: low means mostly background."""


def integer_box(xyxy, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle that holds ``xyxy`` (corners rounded outwards), inside the image."""
    x1, y1, x2, y2 = xyxy
    return (max(0, int(np.floor(x1))), max(0, int(np.floor(y1))),
            min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2))))


def difference_mask(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """bool: pixels whose largest channel difference from ``background`` exceeds the threshold."""
    difference = cv2.absdiff(image, background).max(axis=2)
    return difference > DIFFERENCE_THRESHOLD


def object_mask(image: np.ndarray, background: np.ndarray, xyxy) -> ObjectMask:
    """The mask of the object in ``xyxy`` of ``image`` (both BGR uint8, same size)."""
    height, width = image.shape[:2]
    bx1, by1, bx2, by2 = integer_box(xyxy, width, height)
    differs = difference_mask(image[by1:by2, bx1:bx2], background[by1:by2, bx1:bx2])
    share = float(differs.mean()) if differs.size else 0.0
    foreground = _clean(differs)
    if _plausible(foreground):
        return ObjectMask("foreground", foreground, share)
    cut = _grabcut(image, (bx1, by1, bx2, by2), differs)
    if cut is not None and _plausible(cut):
        return ObjectMask("grabcut", cut, share)
    return ObjectMask("box", np.ones((by2 - by1, bx2 - bx1), bool), share)


def _clean(differs: np.ndarray) -> np.ndarray:
    size = max(3, (min(differs.shape) // 12) | 1)  # odd kernel, about a twelfth of the box
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = differs.astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return _fill_holes(largest_component(mask.astype(bool)))


def largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    # Flood the outside from a 1-pixel frame; whatever it cannot reach and is not mask is a hole.
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def _plausible(mask: np.ndarray) -> bool:
    if not mask.size or not mask.any():
        return False
    rows = np.flatnonzero(mask.any(axis=1))
    span = (rows[-1] - rows[0] + 1) / mask.shape[0]
    return MIN_MASK_SHARE <= mask.mean() <= MAX_MASK_SHARE and span >= MIN_HEIGHT_SPAN


def _grabcut(image: np.ndarray, box: tuple[int, int, int, int], differs: np.ndarray) -> np.ndarray | None:
    height, width = image.shape[:2]
    bx1, by1, bx2, by2 = box
    mx, my = int(GRABCUT_CONTEXT * (bx2 - bx1)) + 2, int(GRABCUT_CONTEXT * (by2 - by1)) + 2
    cx1, cy1, cx2, cy2 = max(0, bx1 - mx), max(0, by1 - my), min(width, bx2 + mx), min(height, by2 + my)
    seeds = np.full((cy2 - cy1, cx2 - cx1), cv2.GC_BGD, np.uint8)
    inside = (slice(by1 - cy1, by2 - cy1), slice(bx1 - cx1, bx2 - cx1))
    seeds[inside] = np.where(differs, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    if not (seeds == cv2.GC_PR_FGD).any():
        return None  # GrabCut needs some foreground to model
    try:
        cv2.grabCut(image[cy1:cy2, cx1:cx2], seeds, None, np.zeros((1, 65)), np.zeros((1, 65)),
                    GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None  # degenerate colour models (a flat crop): the box fallback takes over
    cut = np.isin(seeds[inside], (cv2.GC_FGD, cv2.GC_PR_FGD))
    return _fill_holes(largest_component(cut))
