"""Real frames from the shared clips, OpenCV-made near-copies of them, and headers to send them with."""

import time
from functools import lru_cache

import cv2
import numpy as np

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import FrameHeader, Labels
from tests.server._paths import DATA_DIR

VIDEOS_DIR = DATA_DIR / "videos"
PETS = "pets09_s2l1_pedestrians_vtest_480x360.mp4"
PARKING = "parking_lot_overhead_cars_intel.mp4"
INDOOR = "indoor_people_one_by_one_intel.mp4"
HIGHWAY = "highway_cam_traffic_bgslibrary_video02.avi"


@lru_cache(maxsize=None)
def clip_frames(name: str, indices: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The frames of a shared clip at these indices (decoded once per test session)."""
    capture = cv2.VideoCapture(str(VIDEOS_DIR / name))
    wanted, frames, index = set(indices), {}, 0
    try:
        while len(frames) < len(wanted):
            ok, image = capture.read()
            assert ok, f"{name} ended before frame {max(wanted)}"
            if index in wanted:
                frames[index] = image
            index += 1
    finally:
        capture.release()
    return tuple(frames[i] for i in indices)


def encode(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buffer.tobytes()


def near_copies(image: np.ndarray) -> dict[str, np.ndarray]:
    """What a second upload, a re-encoding camera or a shaky mount makes of one picture."""
    height, width = image.shape[:2]
    noise = np.random.default_rng(7).normal(0, 5, image.shape)
    copies = {f"jpeg{q}": cv2.imdecode(np.frombuffer(encode(image, q), np.uint8), cv2.IMREAD_COLOR) for q in (30, 60)}
    copies["resize0.5"] = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    copies["bright+10"] = cv2.convertScaleAbs(image, alpha=1.1)
    copies["bright-10"] = cv2.convertScaleAbs(image, alpha=0.9)
    shift = np.float32([[1, 0, 0.02 * width], [0, 1, -0.015 * height]])
    copies["shift2%"] = cv2.warpAffine(image, shift, (width, height), borderMode=cv2.BORDER_REPLICATE)
    copies["crop3%"] = image[int(0.03 * height):, int(0.03 * width):]
    copies["noise"] = np.clip(image + noise, 0, 255).astype(np.uint8)
    return copies


def header_for(image: np.ndarray, device: str, seq: int, capture_ts: float | None = None, score: float = 0.8,
               track_id: int = -1, phash: str | None = None, priority: float = 0.5) -> FrameHeader:
    height, width = image.shape[:2]
    return FrameHeader(
        device=device, seq=seq, capture_ts=time.time() if capture_ts is None else capture_ts,
        width=width, height=height, model_id="yolox-test", class_names=("person", "car"),
        labels=Labels(xyxy=((1.0, 1.0, width / 4, height / 4),), score=(score,), class_id=(0,), track_id=(track_id,)),
        reasons=("scene_change",), priority=priority, phash=phash or phash_hex(phash64(image)),
    )
