"""Making boxes of an image unrecognizable: blur, pixelate or a solid fill, in place.

Each box is first grown by ``margin`` (a share of its width and height on every side: a face box
hugs the skin and leaves hair and ears), then clipped to the image. ``strength`` in (0, 1] sets how
much is destroyed: the blur kernel is that share of the box's larger side (applied twice: a box
filter twice is close to a Gaussian and leaves no edges a detector finds again); a pixelated box
keeps ``round(3 / strength)`` cells across its larger side (fewer, coarser cells at higher
strength); a fill paints the box black and ignores it.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import REDACTION_STYLES as STYLES

FILL_BGR = (0, 0, 0)


def grown_boxes(xyxy: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """Integer ``(N, 4)`` boxes grown by ``margin`` of their size on each side, clipped to the image;
    empty ones dropped."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    pad = (xyxy[:, 2:] - xyxy[:, :2]) * margin
    grown = np.concatenate([np.floor(xyxy[:, :2] - pad), np.ceil(xyxy[:, 2:] + pad)], axis=1)
    grown[:, [0, 2]] = grown[:, [0, 2]].clip(0, width)
    grown[:, [1, 3]] = grown[:, [1, 3]].clip(0, height)
    grown = grown.astype(np.int64)
    return grown[(grown[:, 2] > grown[:, 0]) & (grown[:, 3] > grown[:, 1])]


def redact_boxes(image: np.ndarray, boxes: np.ndarray, style: str = "blur", strength: float = 0.5) -> None:
    """Apply ``style`` to each integer box of ``image`` (BGR uint8), in place."""
    if style not in STYLES:
        raise ValueError(f"style: expected one of {', '.join(STYLES)}, got {style!r}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength: expected a number in (0, 1], got {strength}")
    for x1, y1, x2, y2 in np.asarray(boxes, np.int64).reshape(-1, 4):
        region = image[y1:y2, x1:x2]
        if style == "fill":
            region[:] = FILL_BGR
        elif style == "pixelate":
            region[:] = _pixelated(region, strength)
        else:
            region[:] = _blurred(region, strength)


def _blurred(region: np.ndarray, strength: float) -> np.ndarray:
    height, width = region.shape[:2]
    kernel = max(3, int(round(strength * max(height, width))) | 1)
    once = cv2.blur(region, (kernel, kernel), borderType=cv2.BORDER_REPLICATE)
    return cv2.blur(once, (kernel, kernel), borderType=cv2.BORDER_REPLICATE)


def _pixelated(region: np.ndarray, strength: float) -> np.ndarray:
    height, width = region.shape[:2]
    cells = max(2, int(round(3 / strength)))  # strength 1: 3 cells across the larger side, 0.5: 6
    side = max(height, width)
    small_w = max(1, round(width * cells / side))
    small_h = max(1, round(height * cells / side))
    small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
