"""Fit a frame into a detector's fixed input size, and map boxes back to the frame.

Two families, two conventions, each copied from its reference implementation because a detector
is only as accurate as the preprocessing it was trained with:

* YOLOX: the resized image at the top-left, grey 114 padding, BGR, values 0-255, sizes floored.
  Undoing it is a single division, no offset.
* Ultralytics (YOLOv5, YOLOv8, YOLO11 and their end-to-end exports): the resized image centred,
  grey 114 padding (114/255 after scaling), RGB, values 0-1, sizes rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

YOLOX_PAD_VALUE = 114
"""The grey YOLOX was trained with in padded areas; any other value shifts its scores slightly."""


@dataclass(frozen=True)
class InputFormat:
    """How a model family wants its pixels."""

    name: str
    """Short name for logs and reports (``yolox``, ``ultralytics``)."""
    rgb: bool
    """Channels in RGB order; BGR (OpenCV's order) when False."""
    value_scale: float
    """Factor applied to 0-255 pixel values (1.0, or 1/255 for 0-1 inputs)."""
    centered: bool
    """Image in the middle of the canvas with padding on both sides; top-left when False."""
    pad_value: int = YOLOX_PAD_VALUE
    """Grey level of the padding in 0-255 units (scaled like the pixels)."""


YOLOX_INPUT = InputFormat("yolox", rgb=False, value_scale=1.0, centered=False)
ULTRALYTICS_INPUT = InputFormat("ultralytics", rgb=True, value_scale=1.0 / 255.0, centered=True)


class Letterboxed(NamedTuple):
    """A network input and what is needed to map its boxes back to the frame."""

    tensor: np.ndarray
    """float32 ``[1, 3, H, W]`` in the model's channel order and value range."""
    scale: float
    """Factor frame pixels were multiplied by (``min(H/h, W/w)``)."""
    offset_xy: tuple[float, float]
    """Padding left of and above the image, in network-input pixels (0, 0 for top-left)."""


def letterbox(
    image_bgr: np.ndarray,
    input_hw: tuple[int, int] = (416, 416),
    pad_value: int = YOLOX_PAD_VALUE,
) -> tuple[np.ndarray, float]:
    """YOLOX letterbox: returns ``(tensor, scale)``, BGR 0-255 at the top-left (no normalisation)."""
    boxed = letterbox_as(image_bgr, input_hw, InputFormat("yolox", False, 1.0, False, pad_value))
    return boxed.tensor, boxed.scale


def letterbox_as(image_bgr: np.ndarray, input_hw: tuple[int, int], input_format: InputFormat) -> Letterboxed:
    """Resize ``image_bgr`` into an ``input_hw`` canvas the way ``input_format`` says."""
    image_bgr = _as_bgr(image_bgr)
    input_h, input_w = input_hw
    frame_h, frame_w = image_bgr.shape[:2]
    scale = min(input_h / frame_h, input_w / frame_w)
    if input_format.centered:
        # Ultralytics' LetterBox: round the size, split the padding, bias odd pixels down/right.
        resized_w, resized_h = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))
        left = round((input_w - resized_w) / 2 - 0.1)
        top = round((input_h - resized_h) / 2 - 0.1)
    else:
        # Floor like YOLOX's own preprocessing, so boxes match the reference implementation exactly;
        # at least one pixel so a very thin frame still produces an image.
        resized_w, resized_h = max(1, int(frame_w * scale)), max(1, int(frame_h * scale))
        left = top = 0
    canvas = np.full((input_h, input_w, 3), input_format.pad_value, dtype=np.uint8)
    if (resized_w, resized_h) == (frame_w, frame_h):
        resized = image_bgr
    else:
        resized = cv2.resize(image_bgr, (resized_w, resized_h), interpolation=cv2.INTER_LINEAR)
    canvas[top : top + resized_h, left : left + resized_w] = resized
    if input_format.rgb:
        canvas = canvas[:, :, ::-1]
    tensor = canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
    if input_format.value_scale != 1.0:
        tensor *= np.float32(input_format.value_scale)
    return Letterboxed(tensor, scale, (float(left), float(top)))


def unletterbox_xyxy(
    xyxy: np.ndarray,
    scale: float,
    frame_hw: tuple[int, int],
    offset_xy: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Map ``(N, 4)`` network-input xyxy back to frame pixels, clipped to the frame.

    A box that lay entirely in the padding comes back with zero width or height; callers drop
    those (the wire format rejects empty boxes).
    """
    frame_h, frame_w = frame_hw
    frame_xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    if offset_xy != (0.0, 0.0):
        frame_xyxy -= np.array(offset_xy * 2, np.float32)
    frame_xyxy /= np.float32(scale)
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
