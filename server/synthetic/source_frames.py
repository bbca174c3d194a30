"""A device's verified frames and boxes: what every other step of synthesis learns from.

Verified means a reviewer accepted or corrected the frame; its boxes are then its ``annotations``
(a frame accepted with no box is a verified empty scene). Synthetic frames never feed back in,
whatever their status, so a generated picture is never learned from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy import Connection, text

from server.db import sql
from server.errors import StoreError
from server.frames.state import VERIFIED_STATUSES
from server.media import MediaBackend
from server.synthetic.errors import UnknownDeviceError

Xyxy = tuple[float, float, float, float]


@dataclass(frozen=True)
class VerifiedBox:
    annotation_id: int
    frame_id: int
    xyxy: Xyxy
    class_name: str


@dataclass(frozen=True)
class VerifiedFrame:
    frame_id: int
    media_sha256: str
    width: int
    height: int
    model_id: str
    boxes: tuple[VerifiedBox, ...]


def check_device(conn: Connection, device: str) -> None:
    """Raise :class:`UnknownDeviceError` (naming the known devices) unless ``device`` sent frames."""
    if conn.execute(text("SELECT 1 FROM devices WHERE name = :device"), {"device": device}).first() is None:
        known = list(conn.execute(text("SELECT name FROM devices ORDER BY name")).scalars())
        raise UnknownDeviceError(f"unknown device {device!r}; devices with frames: {', '.join(known) or 'none'}")


def verified_frames(conn: Connection, device: str) -> list[VerifiedFrame]:
    """The device's accepted and corrected real frames, oldest id first, all of the device's usual size.

    A camera that changed resolution keeps only its most common size: a background is one picture.
    """
    rows = conn.execute(sql(
        "SELECT id, media_sha256, width, height, model_id FROM frames"
        " WHERE device = :device AND status IN :verified"
        " AND id NOT IN (SELECT frame_id FROM synthetic_frames) ORDER BY id", "verified"),
        {"device": device, "verified": VERIFIED_STATUSES},
    ).all()
    if not rows:
        return []
    (size, _), = Counter((width, height) for _, _, width, height, _ in rows).most_common(1)
    boxes: dict[int, list[VerifiedBox]] = {}
    for annotation_id, frame_id, x1, y1, x2, y2, class_name in conn.execute(sql(
        "SELECT a.id, a.frame_id, a.x1, a.y1, a.x2, a.y2, a.class_name FROM annotations a"
        " JOIN frames f ON f.id = a.frame_id WHERE f.device = :device AND f.status IN :verified"
        " ORDER BY a.frame_id, a.id", "verified"), {"device": device, "verified": VERIFIED_STATUSES},
    ):
        boxes.setdefault(frame_id, []).append(VerifiedBox(annotation_id, frame_id, (x1, y1, x2, y2), class_name))
    return [VerifiedFrame(frame_id, sha256, width, height, model_id, tuple(boxes.get(frame_id, ())))
            for frame_id, sha256, width, height, model_id in rows if (width, height) == size]


def load_image(media: MediaBackend, sha256: str) -> np.ndarray:
    """A stored JPEG decoded to BGR uint8."""
    data = np.frombuffer(media.get(sha256), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise StoreError(f"stored image {sha256} in {media.location} does not decode; the media store is damaged")
    return image


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise StoreError("cannot encode a JPEG")  # only on an invalid array: a bug, reported plainly
    return buffer.tobytes()
