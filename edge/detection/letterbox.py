"""Fit a frame into a detector's fixed input size, and map boxes back to the frame.

YOLOX style: one scale for both axes (aspect ratio kept), the resized image at the top-left and the
rest padded. Because the image sits at the origin, undoing it is a single division, no offset.
"""

from __future__ import annotations

import cv2
import numpy as np

YOLOX_PAD_VALUE = 114
"""The grey YOLOX was trained with in padded areas; any other value shifts its scores slightly."""


def letterbox(
    image_bgr: np.ndarray,
    input_hw: tuple[int, int] = (416, 416),
    pad_value: int = YOLOX_PAD_VALUE,
) -> tuple[np.ndarray, float]:
    """Resize ``image_bgr`` into an ``input_hw`` canvas and return it as a network input.

    Returns ``(tensor, scale)``: a float32 ``[1, 3, H, W]`` array, BGR, values 0-255 (no
    normalisation), and the factor frame pixels were multiplied by (``min(H/h, W/w)``).
    """
    image_bgr = _as_bgr(image_bgr)
    input_h, input_w = input_hw
    frame_h, frame_w = image_bgr.shape[:2]
    scale = min(input_h / frame_h, input_w / frame_w)
    # Floor like YOLOX's own preprocessing, so boxes match the reference implementation exactly;
    # at least one pixel so a very thin frame still produces an image.
    resized_w = max(1, int(frame_w * scale))
    resized_h = max(1, int(frame_h * scale))
    canvas = np.full((input_h, input_w, 3), pad_value, dtype=np.uint8)
    canvas[:resized_h, :resized_w] = cv2.resize(
        image_bgr, (resized_w, resized_h), interpolation=cv2.INTER_LINEAR
    )
    tensor = canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
    return tensor, scale


def unletterbox_xyxy(xyxy: np.ndarray, scale: float, frame_hw: tuple[int, int]) -> np.ndarray:
    """Map ``(N, 4)`` network-input xyxy back to frame pixels, clipped to the frame.

    A box that lay entirely in the padding comes back with zero width or height; callers drop
    those (the wire format rejects empty boxes).
    """
    frame_h, frame_w = frame_hw
    frame_xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) / np.float32(scale)
    np.clip(frame_xyxy[:, 0::2], 0, frame_w, out=frame_xyxy[:, 0::2])
    np.clip(frame_xyxy[:, 1::2], 0, frame_h, out=frame_xyxy[:, 1::2])
    return frame_xyxy


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept what frame sources produce: BGR, and also greyscale or BGRA (converted)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected a uint8 numpy array, got {kind}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image: expected shape (H, W, 3) with H, W > 0, got {image.shape}")
    return image
