"""The object bank: verified objects of a device cut out of their frames, each with a mask.

An object is rejected, and counted by reason, when it is
``too_small`` (less than :data:`MIN_OBJECT_HEIGHT_PX` high or :data:`MIN_OBJECT_WIDTH_PX` wide),
``truncated`` (its box touches the image border: part of it is outside the picture),
``overlapped`` (other verified boxes of its frame cover more than :data:`MAX_COVERED_BY_OTHERS` of
it: the crop would carry a piece of someone else) or ``mostly_background`` (less than
:data:`MIN_DIFFERENCE_SHARE` of its box differs from the background: nothing to cut out).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from server.media import MediaBackend
from server.synthetic.background import Background
from server.synthetic.masks import integer_box, object_mask
from server.synthetic.source_frames import VerifiedBox, VerifiedFrame, load_image

MIN_OBJECT_HEIGHT_PX = 20
MIN_OBJECT_WIDTH_PX = 6
BORDER_PX = 1.0
"""A box edge this close to the image edge counts as touching it."""
MAX_COVERED_BY_OTHERS = 0.25
MIN_DIFFERENCE_SHARE = 0.12
MAX_OBJECTS_PER_CLASS = 300
"""Objects cut per class at most (evenly spread over time): more adds little variety and costs time."""

REJECTION_REASONS = ("too_small", "truncated", "overlapped", "mostly_background")


@dataclass(frozen=True)
class BankObject:
    annotation_id: int
    frame_id: int
    class_name: str
    xyxy: tuple[float, float, float, float]
    """The verified box in its source frame."""
    pixels: np.ndarray
    """BGR uint8 crop of the integer box around ``xyxy``."""
    mask: np.ndarray
    """bool, same height and width as ``pixels``."""
    mask_kind: str
    source_background: np.ndarray
    """The background under the crop: the light the object was seen in, for colour matching."""

    @property
    def height(self) -> int:
        return self.pixels.shape[0]


@dataclass
class ObjectBank:
    objects: list[BankObject] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)
    """(class name, reason) -> how many objects were left out."""

    def of_class(self, class_name: str) -> list[BankObject]:
        return [obj for obj in self.objects if obj.class_name == class_name]

    def mask_kinds(self) -> dict[str, int]:
        return dict(sorted(Counter(obj.mask_kind for obj in self.objects).items()))


def rejection_reason(box: VerifiedBox, frame: VerifiedFrame) -> str | None:
    """Why ``box`` cannot go into the bank, judged on geometry alone (None: it may)."""
    x1, y1, x2, y2 = box.xyxy
    if y2 - y1 < MIN_OBJECT_HEIGHT_PX or x2 - x1 < MIN_OBJECT_WIDTH_PX:
        return "too_small"
    if x1 <= BORDER_PX or y1 <= BORDER_PX or x2 >= frame.width - BORDER_PX or y2 >= frame.height - BORDER_PX:
        return "truncated"
    bx1, by1, bx2, by2 = integer_box(box.xyxy, frame.width, frame.height)
    covered = np.zeros((by2 - by1, bx2 - bx1), bool)
    for other in frame.boxes:
        if other.annotation_id == box.annotation_id:
            continue
        ox1, oy1, ox2, oy2 = integer_box(other.xyxy, frame.width, frame.height)
        covered[max(0, oy1 - by1):max(0, oy2 - by1), max(0, ox1 - bx1):max(0, ox2 - bx1)] = True
    if covered.mean() > MAX_COVERED_BY_OTHERS:
        return "overlapped"
    return None


def build_bank(frames: list[VerifiedFrame], background: Background, classes: tuple[str, ...],
               media: MediaBackend) -> ObjectBank:
    """Cut the verified objects of ``classes`` out of ``frames``."""
    bank = ObjectBank()
    wanted: dict[int, list[VerifiedBox]] = {}
    for class_name in classes:
        boxes = [(frame, box) for frame in frames for box in frame.boxes if box.class_name == class_name]
        usable = []
        for frame, box in boxes:
            reason = rejection_reason(box, frame)
            if reason is None:
                usable.append((frame, box))
            else:
                bank.rejected[(class_name, reason)] += 1
        if len(usable) > MAX_OBJECTS_PER_CLASS:
            usable = [usable[i] for i in np.linspace(0, len(usable) - 1, MAX_OBJECTS_PER_CLASS).round().astype(int)]
        for frame, box in usable:
            wanted.setdefault(frame.frame_id, []).append(box)
    by_id = {frame.frame_id: frame for frame in frames}
    for frame_id in sorted(wanted):
        image = load_image(media, by_id[frame_id].media_sha256)
        for box in wanted[frame_id]:
            cut = object_mask(image, background.image, box.xyxy)
            if cut.difference_share < MIN_DIFFERENCE_SHARE:
                bank.rejected[(box.class_name, "mostly_background")] += 1
                continue
            bx1, by1, bx2, by2 = integer_box(box.xyxy, image.shape[1], image.shape[0])
            bank.objects.append(BankObject(
                annotation_id=box.annotation_id, frame_id=frame_id, class_name=box.class_name, xyxy=box.xyxy,
                pixels=image[by1:by2, bx1:bx2].copy(), mask=cut.mask, mask_kind=cut.kind,
                source_background=background.image[by1:by2, bx1:bx2].copy(),
            ))
    bank.objects.sort(key=lambda obj: obj.annotation_id)
    return bank
