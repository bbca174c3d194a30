"""Decode check of an incoming JPEG: the collector keeps only images it can actually open."""

from __future__ import annotations

import cv2
import numpy as np

from edge.contract.phash import PHASH_THUMBNAIL_SIZE
from edge.contract.wire import WireError, check_jpeg

DECODE_SCALE = 8
"""The check decodes at 1/8 scale (libjpeg's DCT scaling): it still parses every marker, table and
entropy-coded block, so it rejects what a full decode rejects, at about a third of the cost. The
small gray image it yields is what the collector hashes anyway."""


def verify_jpeg(jpeg: bytes, width: int, height: int) -> np.ndarray:
    """Decode ``jpeg`` and check it is ``width`` x ``height``; return it as 1/8-scale gray uint8.

    Raises :class:`WireError` (``bad_image``) when the bytes are not a complete JPEG, do not
    decode, or decode to another size than the header's.
    """
    # The marker scan catches truncation first: libjpeg "decodes" a cut-off file by padding it
    # with grey and only warns, so imdecode alone would accept it. It also checks the size.
    check_jpeg(jpeg, width, height)
    try:
        small = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error as exc:
        raise WireError("bad_image", f"JPEG does not decode ({str(exc).strip().splitlines()[-1]})") from None
    if small is None:
        raise WireError("bad_image", "JPEG does not decode")
    expected = (-(-height // DECODE_SCALE), -(-width // DECODE_SCALE))  # libjpeg rounds up
    if small.shape[:2] != expected:
        raise WireError("bad_image", f"JPEG decodes to about {small.shape[1] * DECODE_SCALE}x"
                        f"{small.shape[0] * DECODE_SCALE}, header says {width}x{height}")
    return small


SIGNATURE_MIN_SIDE = PHASH_THUMBNAIL_SIZE
"""A frame's signature needs a gray image at least this big a side (the 32x32 thumbnail)."""

_LARGER_DECODES = (cv2.IMREAD_REDUCED_GRAYSCALE_4, cv2.IMREAD_REDUCED_GRAYSCALE_2, cv2.IMREAD_GRAYSCALE)


def gray_for_signature(jpeg: bytes, small: np.ndarray) -> np.ndarray:
    """``small`` (from :func:`verify_jpeg`) if it is big enough to sign, else a larger decode of ``jpeg``.

    Only images under 256 px a side need the second, larger decode; they are cheap to decode.
    Without it a 240x180 frame would be signed from a 30x23 image, stretched up, and its hash
    would drift from the same picture's at full size.
    """
    if min(small.shape[:2]) >= SIGNATURE_MIN_SIDE:
        return small
    gray = small
    for flag in _LARGER_DECODES:
        gray = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), flag)
        if gray is None:
            raise WireError("bad_image", "JPEG does not decode")
        if min(gray.shape[:2]) >= SIGNATURE_MIN_SIDE:
            break
    return gray
