"""Recognise a detector's output layout from its graph, and build the head that decodes it.

The layouts and their box conventions are listed in :mod:`.heads`. Recognition, in order:

1. A layout forced by the caller (``--layout``) wins; the outputs must still fit it.
2. Ultralytics metadata: ``task`` other than ``detect`` is refused; ``end2end: True`` means NMS
   inside; ``names`` + ``stride`` on a ``[1, N, 5 + C]`` output means YOLOv5 (YOLOX exports carry
   no metadata).
3. Shapes, with N compared to the anchor-point count P of the input size (strides 8/16/32, or
   8..64 for P6 models): ``[1, N, 5 + C]`` with N = 3P is YOLOv5 (three anchors per cell);
   ``[1, 4 + C, N]`` with N = P is YOLOv8; ``[1, N, 6]``/``[1, N, 7]`` with N not a grid count, and
   separate boxes/scores/labels outputs, are end-to-end.
4. ``[1, N, 5 + C]`` with N = P is either a raw YOLOX head or an anchor-free decoded head (YOLOv6
   style): one probe inference decides. Decoded boxes have non-negative widths and heights and
   centres spread over the whole input; a raw YOLOX head has small grid offsets and log sizes,
   which are negative for boxes smaller than their stride. This is a heuristic: ``--layout`` is
   the escape hatch when it guesses wrong.

Symbolic output dimensions are settled by the same probe inference (a blank frame).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.config import LAYOUTS
from edge.detection.decode import YOLOX_STRIDES, yolox_grids
from edge.detection.heads import (
    EndToEndRowsHead,
    EndToEndSeparateHead,
    Head,
    Yolov5Head,
    Yolov8Head,
    YoloxHead,
)
from edge.detection.letterbox import ULTRALYTICS_INPUT, YOLOX_INPUT, InputFormat
from edge.detection.metadata import ModelMetadata

P6_STRIDES = (8, 16, 32, 64)
ANCHORS_PER_CELL = 3  # YOLOv5/YOLOv7 anchor-based heads


class LayoutError(ValueError):
    """The outputs fit no supported layout, or not the one that was asked for (one line)."""


@dataclass(frozen=True)
class OutputInfo:
    """One model output as ONNX Runtime describes it."""

    name: str
    declared: tuple[int | None, ...]
    """Shape the graph declares; None where a dimension is symbolic."""
    dtype: str
    """ONNX Runtime type string, e.g. ``tensor(float)`` or ``tensor(int64)``."""

    @property
    def is_integer(self) -> bool:
        return "int" in self.dtype


@dataclass(frozen=True)
class Recognised:
    """What recognition settled: the head to decode with and the input the model wants."""

    head: Head
    input_format: InputFormat
    num_classes: int | None
    """Classes the model scores; None for end-to-end outputs, which carry labels only."""
    how: str
    """How the layout was decided (for the log): forced, metadata, shape or probe."""


Probe = Callable[[], Sequence[np.ndarray]]
"""Runs the model once on a blank frame and returns every output, in graph order."""


def anchor_points(input_hw: tuple[int, int], strides: Sequence[int] = YOLOX_STRIDES) -> int:
    """Anchor points of a multi-level head: one per cell of each stride's grid."""
    return sum((input_hw[0] // s) * (input_hw[1] // s) for s in strides)


def recognise(
    outputs: Sequence[OutputInfo],
    input_hw: tuple[int, int],
    metadata: ModelMetadata,
    probe: Probe,
    layout: str | None = None,
) -> Recognised:
    """Pick the layout of a model with these ``outputs`` (see the module docstring for the rules).

    ``probe`` is called at most once, only when a symbolic dimension or the YOLOX-versus-decoded
    question needs a real result. Raises :class:`LayoutError` naming the shapes found.
    """
    if layout is not None and layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; supported layouts: {', '.join(LAYOUTS)}")
    if metadata.task not in (None, "detect"):
        raise LayoutError(
            f"is a {metadata.task!r} model (its metadata says task={metadata.task}); "
            f"only detection models are supported"
        )
    shapes = _Shapes(outputs, probe)
    if layout is not None:
        return _forced(layout, shapes, input_hw)
    if metadata.end2end:
        found = _end_to_end(shapes, input_hw)
        if found is None:
            raise LayoutError(
                f"metadata says end2end but the outputs are not end-to-end: found {shapes.text()}; "
                f"{_supported_text(input_hw)}"
            )
        return Recognised(found, ULTRALYTICS_INPUT, None, "metadata")
    found = _by_shape(shapes, input_hw, metadata)
    if found is None:
        raise LayoutError(f"cannot tell the output layout from {shapes.text()}; {_supported_text(input_hw)}")
    return found


class _Shapes:
    """Output shapes, with symbolic dimensions filled in from one probe run when first needed."""

    def __init__(self, outputs: Sequence[OutputInfo], probe: Probe):
        self.outputs = list(outputs)
        self._probe = probe
        self._probed: list[np.ndarray] | None = None

    def shape(self, index: int) -> tuple[int, ...]:
        declared = self.outputs[index].declared
        if all(d is not None for d in declared):
            return tuple(int(d) for d in declared)
        return tuple(self.probed()[index].shape)

    def probed(self) -> list[np.ndarray]:
        if self._probed is None:
            self._probed = list(self._probe())
        return self._probed

    def text(self) -> str:
        if not self.outputs:
            return "no outputs"
        return ", ".join(f"{o.name!r} {list(self.shape(i))}" for i, o in enumerate(self.outputs))


def _by_shape(shapes: _Shapes, input_hw: tuple[int, int], metadata: ModelMetadata) -> Recognised | None:
    end_to_end = _end_to_end(shapes, input_hw)
    if end_to_end is not None:
        return Recognised(end_to_end, ULTRALYTICS_INPUT, None, "shape")
    if len(shapes.outputs) != 1 or len(shapes.shape(0)) != 3 or shapes.shape(0)[0] != 1:
        return None
    name = shapes.outputs[0].name
    _, rows, columns = shapes.shape(0)
    points = anchor_points(input_hw)
    p6_points = anchor_points(input_hw, P6_STRIDES)
    if columns >= 6 and rows in (ANCHORS_PER_CELL * points, ANCHORS_PER_CELL * p6_points):
        return Recognised(Yolov5Head(name, rows, columns - 5), ULTRALYTICS_INPUT, columns - 5, "shape")
    if columns >= 6 and rows == points:
        if metadata.is_ultralytics:
            return Recognised(Yolov5Head(name, rows, columns - 5), ULTRALYTICS_INPUT, columns - 5, "metadata")
        if looks_decoded(shapes.probed()[0][0], input_hw):
            return Recognised(Yolov5Head(name, rows, columns - 5), ULTRALYTICS_INPUT, columns - 5, "probe")
        head = YoloxHead(name, yolox_grids(input_hw), columns - 5)
        return Recognised(head, YOLOX_INPUT, columns - 5, "probe")
    if rows >= 5 and columns in (points, p6_points):
        return Recognised(Yolov8Head(name, columns, rows - 4), ULTRALYTICS_INPUT, rows - 4, "shape")
    return None


def looks_decoded(rows: np.ndarray, input_hw: tuple[int, int]) -> bool:
    """True if ``(N, 5 + C)`` rows hold pixel ``cx, cy, w, h`` rather than YOLOX's raw offsets.

    Decoded sizes are never negative and decoded centres cover the input (anchor points run from
    one edge to the other); raw YOLOX rows hold offsets of about -1..2 cells and log sizes.
    """
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] == 0 or not np.isfinite(rows[:, :4]).all():
        return False
    centre_x_spread = float(rows[:, 0].max() - rows[:, 0].min())
    return bool((rows[:, 2:4] >= 0).all() and centre_x_spread > input_hw[1] / 2)


def _end_to_end(shapes: _Shapes, input_hw: tuple[int, int]) -> Head | None:
    """An end-to-end head if the outputs have one of the end-to-end forms, else None."""
    if len(shapes.outputs) == 1:
        shape = shapes.shape(0)
        name = shapes.outputs[0].name
        # A 1- or 2-class dense head ([1, 3549, 6]) must not be taken for end-to-end rows.
        if len(shape) == 3 and shape[0] == 1 and shape[2] in (6, 7) and shape[1] not in _dense_counts(input_hw):
            return EndToEndRowsHead(name, shape[2])
        if len(shape) == 2 and shape[1] == 7:
            return EndToEndRowsHead(name, 7)
        return None
    return _separate_outputs(shapes)


def _dense_counts(input_hw: tuple[int, int]) -> set[int]:
    points, p6_points = anchor_points(input_hw), anchor_points(input_hw, P6_STRIDES)
    return {points, p6_points, ANCHORS_PER_CELL * points, ANCHORS_PER_CELL * p6_points}


def _separate_outputs(shapes: _Shapes) -> Head | None:
    per_box: list[int] = []  # [1, N] outputs
    boxes = dets = count = None
    for index, output in enumerate(shapes.outputs):
        shape = shapes.shape(index)
        if output.declared in ((1, 1), (1,)) and output.is_integer:
            count = index
        elif len(shape) == 3 and shape[0] == 1 and shape[2] == 4:
            boxes = index
        elif len(shape) == 3 and shape[0] == 1 and shape[2] == 5:
            dets = index
        elif len(shape) == 2 and shape[0] == 1:
            per_box.append(index)
        else:
            return None
    names = [o.name for o in shapes.outputs]
    count_name = names[count] if count is not None else None
    if boxes is not None and dets is None and len(per_box) == 2:
        labels = _pick_labels(shapes.outputs, per_box)
        if labels is None:
            return None
        scores = per_box[1 - per_box.index(labels)]
        return EndToEndSeparateHead(names[boxes], names[scores], names[labels], count_name)
    if dets is not None and boxes is None and len(per_box) == 1:
        return EndToEndSeparateHead(names[dets], None, names[per_box[0]], count_name)
    return None


def _pick_labels(outputs: Sequence[OutputInfo], candidates: list[int]) -> int | None:
    """Which of two ``[1, N]`` outputs holds the class labels: the integer one, else by name."""
    integer = [i for i in candidates if outputs[i].is_integer]
    if len(integer) == 1:
        return integer[0]
    named = [i for i in candidates if any(k in outputs[i].name.lower() for k in ("label", "class", "cls"))]
    return named[0] if len(named) == 1 else None


def _forced(layout: str, shapes: _Shapes, input_hw: tuple[int, int]) -> Recognised:
    points = anchor_points(input_hw)
    shape = shapes.shape(0) if len(shapes.outputs) == 1 else None
    if layout == "end2end":
        head = _end_to_end(shapes, input_hw)
        if head is None:
            raise LayoutError(f"layout end2end needs {_END_TO_END_TEXT}; found {shapes.text()}")
        return Recognised(head, ULTRALYTICS_INPUT, None, "forced")
    name = shapes.outputs[0].name if shapes.outputs else ""
    if layout == "yolox":
        if shape is None or len(shape) != 3 or shape[0] != 1 or shape[1] != points or shape[2] < 6:
            raise LayoutError(
                f"layout yolox needs one output [1, {points}, 5 + C] for a {input_hw[0]}x{input_hw[1]} input; "
                f"found {shapes.text()}"
            )
        return Recognised(
            YoloxHead(name, yolox_grids(input_hw), shape[2] - 5), YOLOX_INPUT, shape[2] - 5, "forced"
        )
    if layout == "yolov5":
        # More points than values per point, or this is a channels-first output.
        if shape is None or len(shape) != 3 or shape[0] != 1 or shape[2] < 6 or shape[1] <= shape[2]:
            raise LayoutError(f"layout yolov5 needs one output [1, N, 5 + C]; found {shapes.text()}")
        return Recognised(Yolov5Head(name, shape[1], shape[2] - 5), ULTRALYTICS_INPUT, shape[2] - 5, "forced")
    if shape is None or len(shape) != 3 or shape[0] != 1 or shape[1] < 5 or shape[1] >= shape[2]:
        raise LayoutError(f"layout yolov8 needs one output [1, 4 + C, N]; found {shapes.text()}")
    return Recognised(Yolov8Head(name, shape[2], shape[1] - 4), ULTRALYTICS_INPUT, shape[1] - 4, "forced")


_END_TO_END_TEXT = "[1, N, 6], [1, N, 7] or boxes [1, N, 4] + scores [1, N] + labels [1, N]"


def _supported_text(input_hw: tuple[int, int]) -> str:
    points = anchor_points(input_hw)
    return (
        f"supported layouts for a {input_hw[0]}x{input_hw[1]} input: yolox [1, {points}, 5 + C], "
        f"yolov5 [1, {ANCHORS_PER_CELL * points}, 5 + C], yolov8 [1, 4 + C, {points}], "
        f"end2end {_END_TO_END_TEXT} (--layout forces one)"
    )
