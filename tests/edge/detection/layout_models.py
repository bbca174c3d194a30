"""Re-express the real YOLOX-Nano weights in the other output layouts, by appending ONNX ops.

Each builder takes the shared YOLOX-Nano graph (raw head ``[1, 3549, 85]``, BGR 0-255 input) and
adds nodes that decode the head inside the graph (``xy = (dxy + grid) * stride``,
``wh = exp(log wh) * stride``, scores = objectness x class score) and then lay the result out as
another family's export would. Ultralytics-style models take RGB 0-1 input, so those get nodes in
front (x 255, channel reversal) that hand the YOLOX weights the BGR 0-255 pixels they expect.
The weights are the real ones throughout: a model built here must find what the raw model finds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.detection.class_names import COCO_CLASSES
from edge.detection.decode import yolox_grids

INPUT_HW = (416, 416)
POINTS = 3549
NUM_CLASSES = 80
NMS_IOU = 0.45
NMS_SCORE = 0.25
NMS_MAX_PER_CLASS = 100


class GraphBuilder:
    """Appends nodes and constants to a copy of the YOLOX-Nano graph (opset 11 ops only)."""

    def __init__(self, yolox_path: Path):
        self.model = onnx.load(str(yolox_path))
        self.graph = self.model.graph
        self.raw = self.graph.output[0].name  # [1, 3549, 85]
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"layout_{hint}_{self._count}"

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attributes) -> str:
        output = self.name(hint)
        self.graph.node.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def slice_last(self, tensor: str, start: int, end: int) -> str:
        starts, ends, axes = self.const("s", [start]), self.const("e", [end]), self.const("a", [-1])
        return self.node("Slice", [tensor, starts, ends, axes], "slice")

    def rgb_unit_input(self) -> None:
        """Make the model take RGB 0-1 like an Ultralytics export: x255, then RGB -> BGR."""
        original = self.graph.input[0].name
        bgr = self.name("bgr255")
        for node in self.graph.node:
            node.input[:] = [bgr if i == original else i for i in node.input]
        scaled = self.name("scaled")
        self.graph.node.insert(
            0, helper.make_node("Mul", [original, self.const("k255", np.float32(255.0))], [scaled])
        )
        self.graph.node.insert(
            1,
            helper.make_node("Gather", [scaled, self.const("bgr", np.array([2, 1, 0], np.int64))], [bgr], axis=1),
        )

    def decoded(self) -> tuple[str, str, str]:
        """``(cxcywh [1,N,4], objectness [1,N,1], class scores [1,N,80])`` decoded from the raw head."""
        grids = yolox_grids(INPUT_HW)
        grid = self.const("grid", np.asarray(grids.grid_xy, np.float32)[None])
        stride = self.const("stride", np.asarray(grids.stride, np.float32)[None])
        center = self.node("Mul", [self.node("Add", [self.slice_last(self.raw, 0, 2), grid], "g"), stride], "xy")
        size = self.node("Mul", [self.node("Exp", [self.slice_last(self.raw, 2, 4)], "exp"), stride], "wh")
        cxcywh = self.node("Concat", [center, size], "cxcywh", axis=-1)
        return cxcywh, self.slice_last(self.raw, 4, 5), self.slice_last(self.raw, 5, 5 + NUM_CLASSES)

    def xyxy(self, cxcywh: str) -> str:
        center, size = self.slice_last(cxcywh, 0, 2), self.slice_last(cxcywh, 2, 4)
        half = self.node("Mul", [size, self.const("half", np.float32(0.5))], "half")
        return self.node(
            "Concat",
            [self.node("Sub", [center, half], "tl"), self.node("Add", [center, half], "br")],
            "xyxy",
            axis=-1,
        )

    def nms(self, xyxy: str, scores: str) -> tuple[str, str, str]:
        """Per-class NonMaxSuppression: ``(boxes [K,4], scores [K], labels [K] int64)``."""
        scores_by_class = self.node("Transpose", [scores], "cls_first", perm=[0, 2, 1])  # [1, 80, N]
        # ONNX's default box order is (y1, x1, y2, x2); IoU does not care that x and y are swapped.
        selected = self.node(
            "NonMaxSuppression",
            [
                xyxy,
                scores_by_class,
                self.const("max", np.array([NMS_MAX_PER_CLASS], np.int64)),
                self.const("iou", np.array([NMS_IOU], np.float32)),
                self.const("score", np.array([NMS_SCORE], np.float32)),
            ],
            "selected",
        )  # [K, 3]: batch, class, box
        box_index = self.node("Squeeze", [self.slice_last(selected, 2, 3)], "box_i", axes=[1])
        labels = self.node("Squeeze", [self.slice_last(selected, 1, 2)], "labels", axes=[1])
        boxes = self.node("Gather", [self.node("Squeeze", [xyxy], "b", axes=[0]), box_index], "boxes", axis=0)
        kept_scores = self.node("GatherND", [scores_by_class, selected], "kept_scores")
        return boxes, kept_scores, labels

    def set_outputs(self, outputs: list[tuple[str, int, list]]) -> None:
        del self.graph.output[:]
        for name, elem_type, shape in outputs:
            self.graph.output.append(helper.make_tensor_value_info(name, elem_type, shape))

    def save(self, path: Path, metadata: dict[str, str] | None = None) -> Path:
        for key, value in (metadata or {}).items():
            self.model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
        onnx.checker.check_model(self.model)
        onnx.save(self.model, str(path))
        return path


def ultralytics_metadata(names=COCO_CLASSES, **extra) -> dict[str, str]:
    """Metadata as Ultralytics' exporter writes it: Python literals as strings."""
    fields = {"author": "Ultralytics", "stride": "32", "task": "detect", "imgsz": "[416, 416]", "batch": "1"}
    fields["names"] = str(dict(enumerate(names)))
    fields.update({k: str(v) for k, v in extra.items()})
    return fields


def build_yolov5(yolox_path: Path, out: Path, anchors_per_cell: int = 3, metadata: dict | None = None) -> Path:
    """``[1, 3 x 3549, 85]`` decoded ``(cx, cy, w, h, obj, cls)``; the extra anchors see nothing.

    ``anchors_per_cell=1`` gives an anchor-free decoded head ``[1, 3549, 85]`` (YOLOv6 style).
    """
    builder = GraphBuilder(yolox_path)
    builder.rgb_unit_input()
    cxcywh, objectness, classes = builder.decoded()
    rows = builder.node("Concat", [cxcywh, objectness, classes], "rows", axis=-1)
    # Other anchors of the same cells: the same boxes with objectness 0, as if nothing matched them.
    silent = builder.const("silent", np.array([1, 1, 1, 1, 0] + [1] * NUM_CLASSES, np.float32))
    empty_anchor = builder.node("Mul", [rows, silent], "empty")
    if anchors_per_cell > 1:
        rows = builder.node("Concat", [rows] + [empty_anchor] * (anchors_per_cell - 1), "anchors", axis=1)
    builder.set_outputs([(rows, TensorProto.FLOAT, [1, POINTS * anchors_per_cell, 5 + NUM_CLASSES])])
    return builder.save(out, metadata)


def build_yolov8(yolox_path: Path, out: Path, metadata: dict | None = None) -> Path:
    """``[1, 84, 3549]``: ``(cx, cy, w, h, 80 scores)`` per column, objectness folded into the scores."""
    builder = GraphBuilder(yolox_path)
    builder.rgb_unit_input()
    cxcywh, objectness, classes = builder.decoded()
    scores = builder.node("Mul", [classes, objectness], "scores")
    rows = builder.node("Concat", [cxcywh, scores], "rows", axis=-1)
    channels = builder.node("Transpose", [rows], "output0", perm=[0, 2, 1])
    builder.set_outputs([(channels, TensorProto.FLOAT, [1, 4 + NUM_CLASSES, POINTS])])
    return builder.save(out, metadata)


def build_end_to_end(yolox_path: Path, out: Path, form: str = "rows6", metadata: dict | None = None) -> Path:
    """NMS inside the graph. ``form``: ``rows6`` ``[1, K, 6]`` (x1, y1, x2, y2, score, class),
    ``rows7`` ``[K, 7]`` (batch, x1, y1, x2, y2, class, score), or ``separate`` boxes/scores/labels/num."""
    builder = GraphBuilder(yolox_path)
    builder.rgb_unit_input()
    cxcywh, objectness, classes = builder.decoded()
    scores = builder.node("Mul", [classes, objectness], "scores")
    boxes, kept_scores, labels = builder.nms(builder.xyxy(cxcywh), scores)
    column = lambda t: builder.node("Unsqueeze", [t], "col", axes=[1])  # noqa: E731
    labels_float = builder.node("Cast", [labels], "labels_f", to=TensorProto.FLOAT)
    if form == "rows6":
        rows = builder.node("Concat", [boxes, column(kept_scores), column(labels_float)], "rows", axis=1)
        batched = builder.node("Unsqueeze", [rows], "output0", axes=[0])
        builder.set_outputs([(batched, TensorProto.FLOAT, [1, "detections", 6])])
    elif form == "rows7":
        batch = builder.node("Mul", [column(kept_scores), builder.const("zero", np.float32(0))], "batch")
        rows = builder.node("Concat", [batch, boxes, column(labels_float), column(kept_scores)], "rows", axis=1)
        builder.set_outputs([(rows, TensorProto.FLOAT, ["detections", 7])])
    elif form == "separate":
        batched = lambda t, hint: builder.node("Unsqueeze", [t], hint, axes=[0])  # noqa: E731
        count = builder.node("Shape", [kept_scores], "num_dets")  # [1]: K
        count_2d = builder.node("Unsqueeze", [count], "num_dets_2d", axes=[0])
        builder.set_outputs([
            (count_2d, TensorProto.INT64, [1, 1]),
            (batched(boxes, "det_boxes"), TensorProto.FLOAT, [1, "detections", 4]),
            (batched(kept_scores, "det_scores"), TensorProto.FLOAT, [1, "detections"]),
            (batched(labels, "det_classes"), TensorProto.INT64, [1, "detections"]),
        ])  # fmt: skip
    else:
        raise ValueError(f"form: expected rows6, rows7 or separate, got {form!r}")
    return builder.save(out, metadata)
