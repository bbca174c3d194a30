"""Is this the same picture? The thumbnail check that confirms a candidate the hash index found.

A fixed camera's hashes barely move when a person walks through the picture, while a copy shifted
or cropped by a few percent can move them a lot; so the hash only proposes candidates and the two
32x32 thumbnails decide:

1. Both are normalised to zero mean and unit spread, which cancels a brightness or contrast change.
2. A cheap first look (about 50 us): a pixel counts as changed when it lies more than
   ``RESIDUAL_SIGMA`` outside the range of its 3x3 neighbourhood in the other thumbnail; this
   forgives a shift of up to a pixel (3% of the picture) but not new content. A pair with more
   than ``QUICK_REJECT_AREA`` changed is different, without aligning it; this settles most
   different pairs (measured on the shared clips: about half of the "people moved" pairs, and no
   true copy ever got past 0.02).
3. Otherwise the second thumbnail is aligned onto the first with an affine ECC fit (the shift,
   crop or resize), and the changed area is the share of interior pixels whose aligned difference
   exceeds ``RESIDUAL_SIGMA``. A fit that needs more than ``MAX_ALIGN_SCALE`` zoom or
   ``MAX_ALIGN_SHIFT`` of the picture is no copy (a moving camera, another view).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RESIDUAL_SIGMA = 0.8
"""A pixel changed when it differs by more than this many standard deviations of the picture."""

QUICK_REJECT_AREA = 0.05
MARGIN_PX = 2
"""Border pixels left out: a shift or crop brings in content that no alignment can match."""

MAX_ALIGN_SCALE = 0.08
MAX_ALIGN_SHIFT = 0.10
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)


@dataclass(frozen=True)
class Comparison:
    changed_area: float
    """Share of the picture (0..1) that differs after alignment; 1.0 when no alignment fits."""
    aligned: bool
    """False when the quick look settled it (or the fit failed)."""


@dataclass(frozen=True, eq=False)
class PreparedThumbnail:
    """A thumbnail's part of every comparison, computed once: ingest compares a new frame with up
    to ``max_candidates`` representatives, and a representative with many newcomers."""

    normalised: np.ndarray
    dilated: np.ndarray
    """3x3 maximum of ``normalised`` (the top of each pixel's neighbourhood range)."""
    eroded: np.ndarray


def prepare(thumbnail: np.ndarray) -> PreparedThumbnail:
    """What :func:`compare_prepared` needs of a gray uint8 thumbnail."""
    if thumbnail.ndim != 2:
        raise ValueError(f"thumbnail: expected a 2-D array, got shape {thumbnail.shape}")
    normalised = _normalised(thumbnail)
    return PreparedThumbnail(normalised, cv2.dilate(normalised, _KERNEL), cv2.erode(normalised, _KERNEL))


def compare_thumbnails(a: np.ndarray, b: np.ndarray) -> Comparison:
    """Compare two same-sized gray uint8 thumbnails (see the module docstring)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"thumbnails: expected two same-shaped 2-D arrays, got {a.shape} and {b.shape}")
    return compare_prepared(prepare(a), prepare(b))


def compare_prepared(a: PreparedThumbnail, b: PreparedThumbnail) -> Comparison:
    """:func:`compare_thumbnails` of two prepared thumbnails (the same result, bit for bit)."""
    first, second = a.normalised, b.normalised
    if first.shape != second.shape:
        raise ValueError(f"thumbnails: expected two same-shaped 2-D arrays, got {first.shape} and {second.shape}")
    quick = _tolerant_changed_area(a, b)
    if quick > QUICK_REJECT_AREA:
        return Comparison(quick, aligned=False)
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(first, second, warp, cv2.MOTION_AFFINE, _ECC_CRITERIA, None, 1)
    except cv2.error:  # no convergence: the pictures do not line up
        return Comparison(1.0, aligned=False)
    if not _plausible(warp, first.shape):
        return Comparison(1.0, aligned=False)
    height, width = first.shape
    aligned = cv2.warpAffine(second, warp, (width, height), flags=cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    residual = np.abs(first - _normalised(aligned))
    return Comparison(float((_interior(residual) > RESIDUAL_SIGMA).mean()), aligned=True)


def _normalised(thumbnail: np.ndarray) -> np.ndarray:
    values = thumbnail.astype(np.float32)
    return (values - values.mean()) / max(float(values.std()), 1.0)


_KERNEL = np.ones((3, 3), np.uint8)


def _tolerant_changed_area(a: PreparedThumbnail, b: PreparedThumbnail) -> float:
    first, second = a.normalised, b.normalised
    outside_second = np.maximum(first - b.dilated, b.eroded - first)
    outside_first = np.maximum(second - a.dilated, a.eroded - second)
    residual = np.maximum(outside_second, outside_first)
    return float((_interior(residual) > RESIDUAL_SIGMA).mean())


def _plausible(warp: np.ndarray, shape: tuple[int, int]) -> bool:
    linear = warp[:, :2]
    shift = np.abs(warp[:, 2]) / np.array([shape[1], shape[0]], np.float32)
    return bool(np.all(np.abs(linear - np.eye(2)) <= MAX_ALIGN_SCALE) and np.all(shift <= MAX_ALIGN_SHIFT))


def _interior(values: np.ndarray) -> np.ndarray:
    return values[MARGIN_PX:-MARGIN_PX, MARGIN_PX:-MARGIN_PX]
