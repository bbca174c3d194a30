"""What the collector keeps of every frame to find its duplicates: a 32x32 gray thumbnail and two hashes.

All of it comes from the small gray image the JPEG check already decoded (see
:func:`server.images.verify_jpeg`), so a signature costs a resize and an 8x8 DCT, not a decode.

* ``phash``: the 64-bit DCT perceptual hash both sides share (:mod:`edge.contract.phash`), of the
  thumbnail. It is recomputed to check the hash a device sends, never trusted.
* ``block_hash``: the 64-bit key of the near-duplicate index: bit ``i`` says whether 4x4 block ``i``
  of the thumbnail (row-major, MSB first) is brighter than the mean of all 64 blocks. Measured on
  the shared clips, it keeps re-encoded, resized, brightened, noisy and 1-4% shifted or cropped
  copies within 7-8 bits 99% of the time, where the DCT hash needs 12-14 bits; a small radius is
  what keeps the multi-index search fast (see :mod:`server.dedup.hash_index`).
* ``thumbnail``: the second signal. Hashes of a fixed camera barely move when a person walks by
  (the background dominates), so a candidate found by the key is confirmed by comparing
  thumbnails (see :mod:`server.dedup.thumbnail_check`).
* ``sharpness``: variance of the Laplacian of the small image over its variance, to pick a
  group's best frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.contract.phash import PHASH_THUMBNAIL_SIZE, gray_thumbnail, phash64_of_thumbnail

THUMBNAIL_SIDE = PHASH_THUMBNAIL_SIZE
"""Side of the stored thumbnail (1 KiB): the pHash's input, so one resize serves both."""

KEY_BLOCKS = 8
"""The block hash averages the thumbnail into KEY_BLOCKS x KEY_BLOCKS blocks (64 bits)."""


@dataclass(frozen=True, eq=False)
class FrameSignature:
    thumbnail: np.ndarray
    """THUMBNAIL_SIDE x THUMBNAIL_SIDE uint8 gray (aspect ratio not kept)."""
    phash: int
    """Unsigned 64-bit DCT perceptual hash (the edge's definition)."""
    block_hash: int
    """Unsigned 64-bit block-mean hash, the near-duplicate index key."""
    sharpness: float

    def thumbnail_bytes(self) -> bytes:
        return self.thumbnail.tobytes()


def signature_of_gray(gray: np.ndarray) -> FrameSignature:
    """The signature of a gray uint8 image of any size (at least 1x1; best at 32 px or more a side)."""
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"gray: expected a non-empty 2-D uint8 array, got {getattr(gray, 'shape', type(gray).__name__)}")
    thumbnail = gray_thumbnail(gray, THUMBNAIL_SIDE)
    return FrameSignature(
        thumbnail=thumbnail,
        phash=phash64_of_thumbnail(thumbnail),
        block_hash=block_hash_of_thumbnail(thumbnail),
        sharpness=sharpness_of(gray),
    )


def sharpness_of(gray: np.ndarray) -> float:
    """Variance of the Laplacian over the image's variance: edge energy, not contrast or brightness."""
    variance = float(gray.var())
    return float(cv2.Laplacian(gray, cv2.CV_32F).var()) / variance if variance > 1.0 else 0.0


def thumbnail_from_bytes(raw: bytes) -> np.ndarray:
    """A stored thumbnail back as an array (the inverse of :meth:`FrameSignature.thumbnail_bytes`)."""
    if len(raw) != THUMBNAIL_SIDE * THUMBNAIL_SIDE:
        raise ValueError(f"thumbnail: expected {THUMBNAIL_SIDE * THUMBNAIL_SIDE} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(THUMBNAIL_SIDE, THUMBNAIL_SIDE)


def block_hash_of_thumbnail(thumbnail: np.ndarray) -> int:
    step = THUMBNAIL_SIDE // KEY_BLOCKS
    blocks = thumbnail.reshape(KEY_BLOCKS, step, KEY_BLOCKS, step).mean(axis=(1, 3), dtype=np.float64)
    return _pack_bits(blocks > blocks.mean())


def to_sqlite_int(value: int) -> int:
    """An unsigned 64-bit hash as the signed 64-bit integer SQLite stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_sqlite_int(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _pack_bits(bits: np.ndarray) -> int:
    return int(np.packbits(bits.ravel().astype(np.uint8)).view(">u8")[0])
