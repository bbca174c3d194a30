"""Example crops: a box cut from a frame's stored JPEG, with a little context around it."""

from __future__ import annotations

import cv2
import numpy as np

from server.taxonomy.model import TaxonomyError

CONTEXT = 0.15
"""Extra margin on each side, as a share of the box's size: a reviewer sees what surrounds the object."""
MAX_SIDE = 320
"""Crops larger than this are scaled down (a guideline shows them small)."""
JPEG_QUALITY = 90


def cut_crop(jpeg: bytes, box: tuple[float, float, float, float]) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height) of the ``box`` (pixel xyxy) region of the image ``jpeg``."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise TaxonomyError("the frame's stored image does not decode: no crop can be cut from it")
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    margin_x, margin_y = (x2 - x1) * CONTEXT, (y2 - y1) * CONTEXT
    left, top = max(0, int(x1 - margin_x)), max(0, int(y1 - margin_y))
    right, bottom = min(width, int(np.ceil(x2 + margin_x))), min(height, int(np.ceil(y2 + margin_y)))
    if right - left < 2 or bottom - top < 2:
        raise TaxonomyError(f"box {list(box)} leaves no crop inside the {width}x{height} image")
    crop = image[top:bottom, left:right]
    scale = MAX_SIDE / max(crop.shape[:2])
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise TaxonomyError("cannot encode the crop as JPEG")
    return encoded.tobytes(), crop.shape[1], crop.shape[0]
