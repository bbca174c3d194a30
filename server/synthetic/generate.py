"""Synthetic frames: which objects go where, then the composite.

For each frame, ``objects_per_frame`` objects (a number drawn in the range) each pick a class
among the requested ones, a position from that class's :class:`PlacementModel`, and a bank object
of that class whose own height is within :data:`MAX_RESCALE` of the height needed there (so no
object is blown up or shrunk beyond recognition; among those, the one seen nearest to the new
position is likeliest). A position is refused when the object would leave the image or cover
another one by more than ``max_overlap`` of the smaller box; after :data:`TRIES_PER_OBJECT`
refusals the frame simply gets fewer objects (never none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from server.synthetic.bank import ObjectBank
from server.synthetic.composite import PastedObject, Placement, composite
from server.synthetic.errors import NotEnoughDataError
from server.synthetic.placement import PlacementModel

MAX_RESCALE = 1.6
TRIES_PER_OBJECT = 30
MAX_FRAME_ATTEMPTS = 20


@dataclass(frozen=True)
class SynthesisSettings:
    count: int
    classes: tuple[str, ...]
    min_objects: int = 1
    max_objects: int = 3
    max_overlap: float = 0.3
    """Largest share of the smaller of two boxes the other may cover. Higher: crowds, more occlusion."""
    colour_match: bool = True

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"count: expected at least 1 frame, got {self.count}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"objects per frame: expected 1 <= min <= max, got {self.min_objects}-{self.max_objects}")
        if not 0.0 <= self.max_overlap < 1.0:
            raise ValueError(f"max_overlap: expected a share in [0, 1), got {self.max_overlap}")


@dataclass(frozen=True)
class SyntheticFrame:
    image: np.ndarray
    objects: tuple[PastedObject, ...]
    anchors: tuple[tuple[float, float], ...]
    """The bottom-centre each object was placed at (in the order of ``objects``)."""


def generate(background: np.ndarray, bank: ObjectBank, models: dict[str, PlacementModel],
             settings: SynthesisSettings, rng: np.random.Generator) -> Iterator[SyntheticFrame]:
    """``settings.count`` frames, one at a time."""
    for _ in range(settings.count):
        for _attempt in range(MAX_FRAME_ATTEMPTS):
            wanted = int(rng.integers(settings.min_objects, settings.max_objects + 1))
            placements, anchors = _place(background.shape, bank, models, settings, rng, wanted)
            image, pasted = composite(background, placements, settings.colour_match)
            if pasted:
                anchor_of = {id(p): a for p, a in zip(placements, anchors)}
                yield SyntheticFrame(image, tuple(pasted), tuple(anchor_of[id(o.placement)] for o in pasted))
                break
        else:
            raise NotEnoughDataError(f"could not place any object of {', '.join(settings.classes)} in "
                                     f"{MAX_FRAME_ATTEMPTS} attempts: the bank's objects do not fit where the "
                                     "classes were seen (too few verified objects of a similar size)")


def _place(shape, bank: ObjectBank, models: dict[str, PlacementModel], settings: SynthesisSettings,
           rng: np.random.Generator, wanted: int) -> tuple[list[Placement], list[tuple[float, float]]]:
    image_height, image_width = shape[:2]
    placements: list[Placement] = []
    anchors: list[tuple[float, float]] = []
    used: set[int] = set()
    for _ in range(wanted):
        class_name = settings.classes[int(rng.integers(len(settings.classes)))]
        model, candidates = models[class_name], bank.of_class(class_name)
        for _try in range(TRIES_PER_OBJECT):
            x, y, height = model.sample_anchor(rng)
            fitting = [obj for obj in candidates if obj.annotation_id not in used
                       and 1 / MAX_RESCALE <= height / obj.height <= MAX_RESCALE]
            if not fitting:
                continue
            # Seen nearer to the new position: likelier the same light, angle and size.
            distance = np.array([abs((obj.xyxy[1] + obj.xyxy[3]) / 2 - y) for obj in fitting])
            weights = 1.0 / (1.0 + distance / max(height, 1.0))
            obj = fitting[int(rng.choice(len(fitting), p=weights / weights.sum()))]
            scaled_height = max(1, int(round(height)))
            scaled_width = max(1, int(round(obj.pixels.shape[1] * scaled_height / obj.height)))
            left, top = int(round(x - scaled_width / 2)), int(round(y)) - scaled_height
            if left < 0 or top < 0 or left + scaled_width > image_width or top + scaled_height > image_height:
                continue
            candidate = Placement(obj, left, top, scaled_width, scaled_height)
            if any(_overlap(candidate, other) > settings.max_overlap for other in placements):
                continue
            placements.append(candidate)
            anchors.append((x, y))
            used.add(obj.annotation_id)
            break
    return placements, anchors


def _overlap(a: Placement, b: Placement) -> float:
    """Intersection over the smaller of the two rectangles."""
    width = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / min(a.width * a.height, b.width * b.height)
