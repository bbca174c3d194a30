"""The empty scene of a fixed camera: a per-pixel temporal median with the verified objects masked out.

Every pixel takes the median over the recent verified frames in which it lies inside no box (boxes grown
by :data:`BOX_MARGIN` for shadows and loose boxes); a frame with no boxes counts everywhere. So a
busy camera where no frame is ever empty still gets a clean background, as long as every pixel is
free in some frames. Pixels covered in every frame fall back to the plain median and are counted
in ``uncovered_fraction``.

The background is stored with its device (media store + a ``device_backgrounds`` row naming the
frames that went in) and recomputed when stale: when verified frames were added since.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from server.db import Database
from server.media import MediaBackend
from server.synthetic.errors import NotEnoughDataError
from server.synthetic.source_frames import VerifiedFrame, encode_jpeg, load_image

log = logging.getLogger("server.synthetic.background")

MIN_BACKGROUND_FRAMES = 5
"""Fewer verified frames than this give no trustworthy median: refuse instead."""

MAX_BACKGROUND_FRAMES = 48
"""At most this many frames (evenly spread over the recent verified ones) go in. More frames clean
up busier scenes but cost memory (all are decoded at once) and time."""

RECENT_FRAMES = 4 * MAX_BACKGROUND_FRAMES
"""The median is taken over the newest this many verified frames only: light, seasons and parked
things change, and today's synthetic frames need today's scene. Spreading the picks over four
times as many frames as are used keeps people who linger from showing through."""

BOX_MARGIN = 0.1
"""Each box is grown by this share of its width/height on every side before it is masked out."""

STRIP_ROWS = 64
"""Rows per slice of the median: bounds the sort's working memory on large frames."""

JPEG_QUALITY = 95


@dataclass(frozen=True)
class Background:
    device: str
    image: np.ndarray
    """BGR uint8, the camera's frame size."""
    media_sha256: str
    frame_ids: tuple[int, ...]
    """The frames the median was taken over."""
    eligible_frames: int
    """How many verified frames the device had when it was computed (its freshness check)."""
    newest_frame_id: int
    uncovered_fraction: float
    """Share of pixels inside a box in every frame used (those fall back to the plain median)."""
    computed_at: float


def box_coverage(frame: VerifiedFrame, margin: float = BOX_MARGIN) -> np.ndarray:
    """(height, width) bool: True where the frame's verified boxes (grown by ``margin``) cover a pixel."""
    covered = np.zeros((frame.height, frame.width), bool)
    for box in frame.boxes:
        x1, y1, x2, y2 = box.xyxy
        dx, dy = margin * (x2 - x1), margin * (y2 - y1)
        covered[max(0, int(np.floor(y1 - dy))):max(0, int(np.ceil(y2 + dy))),
                max(0, int(np.floor(x1 - dx))):max(0, int(np.ceil(x2 + dx)))] = True
    return covered


def masked_median(images: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of ``images`` (N, H, W, 3) uint8 over the frames where ``covered`` (N, H, W) is False.

    Returns the median image (uint8) and the (H, W) mask of pixels covered in every frame, where the
    plain median over all frames is used instead.
    """
    count, height = images.shape[:2]
    median = np.empty(images.shape[1:], np.uint8)
    never_free = np.zeros(images.shape[1:3], bool)
    for top in range(0, height, STRIP_ROWS):
        rows = slice(top, top + STRIP_ROWS)
        values = images[:, rows].astype(np.uint16)
        strip_covered = covered[:, rows]
        values[strip_covered] = 256  # above any pixel value: masked samples sort to the end
        values.sort(axis=0)
        free = count - strip_covered.sum(axis=0)
        none_free = free == 0
        free = np.maximum(free, 1)[None, :, :, None]
        low = np.take_along_axis(values, (free - 1) // 2, axis=0)[0]
        high = np.take_along_axis(values, free // 2, axis=0)[0]
        strip = (low + high + 1) // 2  # the mean of the two middle samples for an even count
        if none_free.any():
            plain = np.median(images[:, rows], axis=0)
            strip[none_free] = np.round(plain[none_free]).astype(np.uint16)
        median[rows] = strip.astype(np.uint8)
        never_free[rows] = none_free
    return median, never_free


def estimate(device: str, frames: list[VerifiedFrame], media: MediaBackend) -> Background:
    """Compute (not store) the background of ``device`` from its verified ``frames``."""
    if len(frames) < MIN_BACKGROUND_FRAMES:
        raise NotEnoughDataError(
            f"device {device!r} has {len(frames)} verified (accepted or corrected) frame(s); a background needs "
            f"at least {MIN_BACKGROUND_FRAMES}: review more of its frames first")
    recent = frames[-RECENT_FRAMES:]  # oldest id first: the newest frames
    picks = np.unique(np.linspace(0, len(recent) - 1, min(len(recent), MAX_BACKGROUND_FRAMES)).round().astype(int))
    used = [recent[i] for i in picks]
    images = np.stack([load_image(media, frame.media_sha256) for frame in used])
    covered = np.stack([box_coverage(frame) for frame in used])
    image, never_free = masked_median(images, covered)
    jpeg = encode_jpeg(image, JPEG_QUALITY)
    return Background(device=device, image=image, media_sha256=media.put(jpeg),
                      frame_ids=tuple(frame.frame_id for frame in used), eligible_frames=len(frames),
                      newest_frame_id=max(frame.frame_id for frame in frames),
                      uncovered_fraction=float(never_free.mean()), computed_at=time.time())


def is_stale(row: dict | None, frames: list[VerifiedFrame]) -> bool:
    """True when there is no stored background or verified frames were added since it was computed."""
    return (row is None or row["eligible_frames"] != len(frames)
            or row["newest_frame_id"] != max(frame.frame_id for frame in frames))


def current_background(db: Database, media: MediaBackend, device: str, frames: list[VerifiedFrame],
                       refresh: bool = False) -> Background:
    """The device's stored background, recomputed and stored first when stale (or ``refresh``)."""
    with db.read("read the stored background") as conn:
        row = stored_row(conn, device)
    if frames and not refresh and not is_stale(row, frames) and media.exists(row["media_sha256"]):
        return Background(device=device, image=load_image(media, row["media_sha256"]),
                          media_sha256=row["media_sha256"], frame_ids=tuple(json.loads(row["frame_ids"])),
                          eligible_frames=row["eligible_frames"], newest_frame_id=row["newest_frame_id"],
                          uncovered_fraction=row["uncovered_fraction"], computed_at=row["computed_at"])
    background = estimate(device, frames, media)
    with db.write(f"store the background of {device!r}") as conn:
        conn.execute(text(
            "INSERT INTO device_backgrounds (device, media_sha256, width, height, frame_ids, eligible_frames,"
            " newest_frame_id, uncovered_fraction, computed_at) VALUES (:device, :media_sha256, :width, :height,"
            " :frame_ids, :eligible_frames, :newest_frame_id, :uncovered_fraction, :computed_at)"
            " ON CONFLICT (device) DO UPDATE SET media_sha256 = excluded.media_sha256, width = excluded.width,"
            " height = excluded.height, frame_ids = excluded.frame_ids, eligible_frames = excluded.eligible_frames,"
            " newest_frame_id = excluded.newest_frame_id, uncovered_fraction = excluded.uncovered_fraction,"
            " computed_at = excluded.computed_at"),
            {"device": device, "media_sha256": background.media_sha256, "width": background.image.shape[1],
             "height": background.image.shape[0], "frame_ids": json.dumps(list(background.frame_ids)),
             "eligible_frames": background.eligible_frames, "newest_frame_id": background.newest_frame_id,
             "uncovered_fraction": background.uncovered_fraction, "computed_at": background.computed_at},
        )
    log.info("background of %s computed from %d of %d verified frames (%.1f%% of pixels never free of objects)",
             device, len(background.frame_ids), background.eligible_frames, 100 * background.uncovered_fraction)
    return background


def stored_row(conn: Connection, device: str) -> dict | None:
    row = conn.execute(text("SELECT * FROM device_backgrounds WHERE device = :device"), {"device": device}).first()
    return None if row is None else dict(row._mapping)
