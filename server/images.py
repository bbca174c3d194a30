"""Full decode of an incoming JPEG: the collector keeps only images it can actually open."""

from __future__ import annotations

import cv2
import numpy as np

from edge.wire import WireError, check_jpeg


def verify_jpeg(jpeg: bytes, width: int, height: int) -> np.ndarray:
    """Decode ``jpeg`` and check it is ``width`` x ``height``; return the BGR image (H, W, 3) uint8.

    Raises :class:`WireError` (``bad_image``) when the bytes are not a complete JPEG, do not
    decode, or decode to another size than the header's.
    """
    # The marker scan catches truncation first: libjpeg "decodes" a cut-off file by padding it
    # with grey and only warns, so imdecode alone would accept it.
    check_jpeg(jpeg, width, height)
    try:
        image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise WireError("bad_image", f"JPEG does not decode ({str(exc).strip().splitlines()[-1]})") from None
    if image is None:
        raise WireError("bad_image", "JPEG does not decode")
    decoded_height, decoded_width = image.shape[:2]
    if (decoded_width, decoded_height) != (width, height):
        raise WireError("bad_image", f"JPEG decodes to {decoded_width}x{decoded_height}, header says {width}x{height}")
    return image
