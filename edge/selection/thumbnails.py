"""The small gray images the keyframe selector measures, and how much changed between two of them.

:func:`analysis_gray` is the image every quality measure runs on; :func:`changed_fraction` compares
thumbnails (:func:`edge.contract.phash.gray_thumbnail`) for the scene-change and novelty policies.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.contract.phash import check_image


def analysis_gray(image: np.ndarray, max_side: int = 320) -> np.ndarray:
    """A gray uint8 image about ``max_side`` pixels on its longest side, cheap at any resolution.

    The frame is shrunk by a whole factor ``k`` (its last ``width % k`` columns and
    ``height % k`` rows are left out), so OpenCV's box average takes its fast path and no
    full-resolution copy is made. From ``k >= 4`` on (frames above 960 px for the default),
    every other pixel of each ``k`` x ``k`` block is skipped first (nearest-neighbour to twice
    the target, then a 2x2 box average): reading a 4K frame once costs more than everything else
    the selector does, and the image stays within a few gray levels of a full box average.
    Measured with OpenCV 5.0: 80 us at 480x360, 0.65 ms at 3072x1728 (against 0.22 and 1.8 ms
    for a full-frame gray conversion alone). At ``k = 3`` (641-960 px) the colour frame is
    shrunk bilinearly first, which reads fewer pixels: 0.30 ms instead of 0.44 ms at 768x432 and
    0.32 instead of 0.47 ms at 960x540 on a loaded machine, within a gray level of the full box
    average (0.4 and 0.9 on average).

    Unlike :func:`~edge.contract.phash.gray_thumbnail` the aspect ratio is kept, so blur and tile
    measures see the picture's real geometry. Lowering ``max_side`` makes every measure cheaper but blind to
    blur of a few pixels and to small obstructions; raising it does the opposite.
    """
    if max_side < 8:
        raise ValueError(f"max_side: expected at least 8 pixels, got {max_side}")
    check_image(image)
    height, width = image.shape[:2]
    factor = max(1, -(-max(width, height) // max_side))
    out_w, out_h = max(1, width // factor), max(1, height // factor)
    if factor >= 4:
        sampled = cv2.resize(image, (out_w * 2, out_h * 2), interpolation=cv2.INTER_NEAREST)
    elif factor == 3:
        sampled = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    else:
        sampled = image[: out_h * factor, : out_w * factor]
    gray = cv2.cvtColor(sampled, cv2.COLOR_BGR2GRAY) if sampled.ndim == 3 else sampled
    if gray.shape[:2] == (out_h, out_w):
        return np.ascontiguousarray(gray)
    return cv2.resize(gray, (out_w, out_h), interpolation=cv2.INTER_AREA)


def changed_fraction(a: np.ndarray, b: np.ndarray, pixel_delta: int = 16) -> float:
    """Fraction of pixels (0..1) that differ by more than ``pixel_delta`` between two thumbnails.

    The median difference is subtracted first, so a global brightness shift (auto exposure,
    a cloud) does not count as change; a person walking in does. Unlike a mean difference, a
    small object that changes a few pixels a lot is not averaged away by a large static
    background. ``a`` and ``b`` are same-shaped gray uint8 images, e.g. thumbnails from
    :func:`~edge.contract.phash.gray_thumbnail`.
    """
    if a.shape != b.shape:
        raise ValueError(f"thumbnails differ in shape: {a.shape} vs {b.shape}")
    return float(changed_fractions(a, b[None], pixel_delta)[0])


def changed_fractions(a: np.ndarray, others: np.ndarray, pixel_delta: int = 16) -> np.ndarray:
    """:func:`changed_fraction` of ``a`` against each of ``others`` (shape (N, *a.shape)) at once."""
    if others.shape[1:] != a.shape:
        raise ValueError(f"thumbnails differ in shape: {a.shape} vs {others.shape[1:]}")
    difference = a.astype(np.int16)[None] - others.astype(np.int16)
    flat = difference.reshape(len(others), -1)
    # The median without np.median's overhead (a third of this function's time on 1 KiB thumbnails).
    middle = (flat.shape[1] - 1) // 2
    ordered = np.partition(flat, (middle, flat.shape[1] // 2), axis=1)
    shift = np.round((ordered[:, middle].astype(np.float64) + ordered[:, flat.shape[1] // 2]) / 2).astype(np.int16)
    changed = np.abs(flat - shift[:, None]) > pixel_delta
    return np.count_nonzero(changed, axis=1) / flat.shape[1]
