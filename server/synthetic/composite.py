"""Pasting objects onto a background: scaling, feathering, colour matching, occlusion and exact boxes.

* Objects are pasted far first (smaller bottom y), so nearer ones cover them.
* Feathering ramps the alpha from ``1 / FEATHER_PX`` at the mask's edge to 1 at ``FEATHER_PX``
  inside it; it never spreads outside the mask, so the pixels an object changes are exactly its mask.
* Colour matching moves the object's LAB statistics by the difference between the background
  where it was seen and where it is pasted: lightness fully in mean and (clipped) contrast, colour
  only partly and clipped, because a different ground colour is not a different light.
* The box of an object is the extent of its mask in the output image (clipped to the image):
  exact by construction, whatever the mask shape. Boxes are amodal: an object partly covered by a
  nearer one keeps its full extent, and ``occluded_fraction`` says how much of its mask is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from server.synthetic.bank import BankObject

FEATHER_PX = 3
MAX_CONTRAST_RATIO = 1.25
CHROMA_SHIFT_SHARE = 0.3
MAX_CHROMA_SHIFT = 6.0


@dataclass(frozen=True)
class Placement:
    obj: BankObject
    left: int
    top: int
    width: int
    height: int
    """The scaled crop's rectangle in the output (may reach outside the image; it is clipped)."""

    @property
    def bottom(self) -> int:
        return self.top + self.height


@dataclass(frozen=True)
class PastedObject:
    placement: Placement
    xyxy: tuple[float, float, float, float]
    """Extent of the pasted mask in the output, pixel edges (x2, y2 one past the last pixel)."""
    occluded_fraction: float


def feather(mask: np.ndarray, feather_px: int = FEATHER_PX) -> np.ndarray:
    """float32 alpha: 0 outside ``mask``, rising from ``1/feather_px`` at its edge to 1 inside."""
    distance = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip(distance / feather_px, 0.0, 1.0).astype(np.float32) * mask


def match_colour(pixels: np.ndarray, source_background: np.ndarray, target_background: np.ndarray) -> np.ndarray:
    """``pixels`` (BGR uint8) relit from the light of ``source_background`` to that of ``target_background``."""
    lab = cv2.cvtColor(pixels, cv2.COLOR_BGR2LAB).astype(np.float32)
    source = cv2.cvtColor(source_background, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    target = cv2.cvtColor(target_background, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    ratio = np.clip((target[:, 0].std() + 1.0) / (source[:, 0].std() + 1.0), 1 / MAX_CONTRAST_RATIO, MAX_CONTRAST_RATIO)
    lab[..., 0] = (lab[..., 0] - source_mean[0]) * ratio + target_mean[0]
    chroma_shift = np.clip(CHROMA_SHIFT_SHARE * (target_mean[1:] - source_mean[1:]), -MAX_CHROMA_SHIFT, MAX_CHROMA_SHIFT)
    lab[..., 1:] += chroma_shift
    return cv2.cvtColor(np.clip(lab, 0, 255).round().astype(np.uint8), cv2.COLOR_LAB2BGR)


def scaled(obj: BankObject, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The object's pixels, mask and source background resized to ``width`` x ``height``."""
    shrinking = height < obj.height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    pixels = cv2.resize(obj.pixels, (width, height), interpolation=interpolation)
    background = cv2.resize(obj.source_background, (width, height), interpolation=interpolation)
    mask = cv2.resize(obj.mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
    return pixels, mask, background


def composite(background: np.ndarray, placements: list[Placement], colour_match: bool = True
              ) -> tuple[np.ndarray, list[PastedObject]]:
    """Paste ``placements`` onto a copy of ``background``; the image and each object's exact box.

    Objects whose mask ends up wholly outside the image are left out of the result.
    """
    image_height, image_width = background.shape[:2]
    output = background.astype(np.float32)
    layers = []  # (placement, full-image bool mask) in paste order
    for placement in sorted(placements, key=lambda p: (p.bottom, p.obj.annotation_id)):
        pixels, mask, source_background = scaled(placement.obj, placement.width, placement.height)
        # The part of the crop inside the image.
        x1, y1 = max(placement.left, 0), max(placement.top, 0)
        x2, y2 = min(placement.left + placement.width, image_width), min(placement.top + placement.height, image_height)
        if x2 <= x1 or y2 <= y1:
            continue
        inside = (slice(y1 - placement.top, y2 - placement.top), slice(x1 - placement.left, x2 - placement.left))
        alpha = feather(mask)[inside]
        if not alpha.any():
            continue
        if colour_match:
            target = background[max(placement.top, 0):y2, max(placement.left, 0):x2]
            pixels = match_colour(pixels, source_background, target)
        region = output[y1:y2, x1:x2]
        region += alpha[..., None] * (pixels[inside].astype(np.float32) - region)
        full = np.zeros((image_height, image_width), bool)
        full[y1:y2, x1:x2] = alpha > 0
        layers.append((placement, full))
    pasted = []
    for index, (placement, full) in enumerate(layers):
        rows, cols = np.flatnonzero(full.any(axis=1)), np.flatnonzero(full.any(axis=0))
        nearer = np.zeros_like(full)
        for _, later in layers[index + 1:]:
            nearer |= later
        occluded = float((full & nearer).sum() / full.sum())
        xyxy = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
        pasted.append(PastedObject(placement, xyxy, occluded))
    return np.clip(output.round(), 0, 255).astype(np.uint8), pasted
