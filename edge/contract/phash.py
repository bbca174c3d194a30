"""The 64-bit DCT perceptual hash of a frame, as both sides compute it.

The agent sends it with every frame (``phash`` in :mod:`edge.contract.wire`) and uses it to find
repeated scenes; the collector recomputes it from the JPEG it receives, never trusting the sent
one, and finds near-duplicates with it. Changing the definition below changes every stored hash.

``phash64`` (the classic DCT pHash), computed from a downscaled gray image, so it costs well under a
millisecond even for a 4K frame and ignores JPEG noise:

1. ``gray_thumbnail(image, 32)``: ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` (skipped for gray
   input), then ``cv2.resize(..., (32, 32), interpolation=INTER_AREA)``.
2. ``cv2.dct`` of that thumbnail as float64 (2-D DCT-II, orthonormal).
3. Keep the top-left 8x8 block (the lowest frequencies, row-major).
4. Median of its 63 AC coefficients (the DC term is excluded: it only measures brightness and
   would drag the median up).
5. Bit ``i`` is ``coeff[i] > median``; coefficient (0, 0) is the most significant bit of the
   64-bit result, (7, 7) the least significant.
"""

from __future__ import annotations

import cv2
import numpy as np

PHASH_THUMBNAIL_SIZE = 32
PHASH_BLOCK = 8


def gray_thumbnail(image: np.ndarray, size: int = PHASH_THUMBNAIL_SIZE) -> np.ndarray:
    """A ``size`` x ``size`` uint8 gray version of a BGR (HxWx3) or gray (HxW) uint8 image.

    Gray conversion first, then ``INTER_AREA`` (a box average, so noise averages out). Measured
    with OpenCV 5.0 on the shared clips, this order is 1.4-2x faster than shrinking the color
    image first (0.22 ms vs 0.35 ms at 480x360, 1.7 ms vs 3.5 ms at 3072x1728). The aspect ratio
    is not kept: a signature only compares a camera with itself.
    """
    if size < 1:
        raise ValueError(f"size: expected a positive thumbnail side, got {size}")
    check_image(image)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)


def phash64(image: np.ndarray) -> int:
    """The 64-bit DCT perceptual hash of a BGR or gray uint8 image (see the module docstring).

    Deterministic: the same pixels always give the same hash. Near-identical images (a JPEG
    re-encode, a small shift of noise) differ in a few bits; different scenes in about half.
    A black image hashes to 0, any other uniform image to ``1 << 63`` (only the DC bit is set).
    """
    return phash64_of_thumbnail(gray_thumbnail(image, PHASH_THUMBNAIL_SIZE))


def phash64_of_thumbnail(thumbnail: np.ndarray) -> int:
    """Steps 2-5 of :func:`phash64`, for a 32x32 gray uint8 thumbnail already at hand."""
    if thumbnail.shape != (PHASH_THUMBNAIL_SIZE, PHASH_THUMBNAIL_SIZE):
        raise ValueError(f"thumbnail: expected shape (32, 32), got {thumbnail.shape}")
    coefficients = cv2.dct(thumbnail.astype(np.float64))
    block = coefficients[:PHASH_BLOCK, :PHASH_BLOCK].ravel()
    bits = block > np.median(block[1:])
    # packbits puts the first coefficient in the most significant bit, as the definition says.
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def phash_hex(value: int) -> str:
    """A 64-bit hash as 16 lowercase hex digits, the form the wire carries."""
    if not 0 <= value < 2**64:
        raise ValueError(f"phash: expected an unsigned 64-bit integer, got {value}")
    return f"{value:016x}"


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes (0 = same, 64 = opposite)."""
    return (a ^ b).bit_count()


def check_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is a non-empty BGR (HxWx3) or gray (HxW) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image: expected a uint8 numpy array, got {kind}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or image.size == 0:
        raise ValueError(f"image: expected shape (H, W) or (H, W, 3), got {image.shape}")
