"""Run a YOLOX ONNX detector on frames with ONNX Runtime.

The runner loads, validates and runs the model; the pure steps around it live elsewhere
(:mod:`.letterbox` for the input, :mod:`.decode` for the output).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.detection.classes import COCO_CLASSES
from edge.detection.decode import YOLOX_STRIDES, decode_yolox, select_and_nms, yolox_grids
from edge.detection.letterbox import YOLOX_PAD_VALUE, letterbox, unletterbox_xyxy
from edge.detections import Detections
from edge.errors import ConfigError, ModelError
from edge.fetch import sha256_of
from edge.wire import MAX_BOXES

log = logging.getLogger("edge.detector")

_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .*? failed:)?")
_MODEL_ID_STEM_CHARS = 100  # keeps model ids within the wire format's 128-character names


class OnnxDetector:
    """A YOLOX-layout detector (raw head output ``[1, N, 5 + C]``) on ONNX Runtime.

    Args:
        model_path: the ``.onnx`` file.
        score_threshold: minimum score of a returned box. Raising it gives fewer false positives
            but misses small, occluded or unusual objects; lowering it returns more candidates for
            review at the cost of noise.
        iou_threshold: overlap above which a weaker box of the same class is suppressed. Lower
            merges more duplicates but also distinct overlapping objects (crowds, parked cars).
        max_detections: cap on boxes per frame, best first (at most the wire limit).
        intra_op_threads: threads ONNX Runtime uses inside one inference; ``None`` lets it pick
            (one per physical core). Fewer leaves cores to capture, tracking and encoding.
        providers: execution providers in order of preference; those not available in this
            ONNX Runtime build are dropped with a warning and CPU is used.
        warmup: run one inference at construction, so the first real frame is not slow and a
            model that fails at run time fails here.
        class_names: names of the model's classes; default COCO-80 (generic names otherwise).
    """

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        max_detections: int = 300,
        intra_op_threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        warmup: bool = True,
        class_names: Sequence[str] | None = None,
    ):
        _check_settings(score_threshold, iou_threshold, max_detections, intra_op_threads)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self._path = Path(model_path)
        self._model_id = _model_id(self._path)
        self._session = _open_session(self._path, intra_op_threads, _available_providers(providers))
        self._input_name, self._input_hw = _image_input(self._session, self._path)
        self._grids = yolox_grids(self._input_hw, YOLOX_STRIDES)
        num_points = len(self._grids.grid_xy)
        self._output_name, num_classes = _yolox_output(self._session, self._path, self._input_hw, num_points)
        self._class_names = _class_names(class_names, num_classes, self._path)
        if warmup:
            blank = np.full((1, 3, *self._input_hw), YOLOX_PAD_VALUE, dtype=np.float32)
            self._run(blank)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    @property
    def model_id(self) -> str:
        """``{file stem}-{first 8 hex digits of the file's SHA-256}``: names the exact weights."""
        return self._model_id

    @property
    def input_hw(self) -> tuple[int, int]:
        return self._input_hw

    @property
    def providers(self) -> tuple[str, ...]:
        """The execution providers the session actually uses."""
        return tuple(self._session.get_providers())

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Boxes in ``image_bgr`` (H x W x 3 uint8), in full-frame pixel xyxy clipped to the frame."""
        tensor, scale = letterbox(image_bgr, self._input_hw)
        raw = self._run(tensor)
        xyxy, class_scores = decode_yolox(raw[0], self._grids.grid_xy, self._grids.stride)
        selected = select_and_nms(
            xyxy, class_scores, self.score_threshold, self.iou_threshold, self.max_detections
        )
        frame_xyxy = unletterbox_xyxy(selected.xyxy, scale, image_bgr.shape[:2])
        # Boxes that lay only in the padding are empty once clipped to the frame.
        non_empty = (frame_xyxy[:, 2] > frame_xyxy[:, 0]) & (frame_xyxy[:, 3] > frame_xyxy[:, 1])
        return Detections.from_arrays(
            frame_xyxy[non_empty], selected.confidence[non_empty], selected.class_id[non_empty]
        )

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        try:
            raw = self._session.run([self._output_name], {self._input_name: tensor})[0]
        except Exception as exc:  # a graph that loads but cannot execute (bad shapes inside, missing op)
            raise ModelError(f"model {self._path} failed to run: {_ort_message(exc)}") from None
        expected = (1, len(self._grids.grid_xy), 5 + len(self._class_names))
        # Symbolic output dims can only be checked on a real result.
        if raw.shape != expected:
            raise ModelError(
                f"model {self._path}: expected output shape {list(expected)}, got {list(raw.shape)}"
            )
        return raw


def _check_settings(score_threshold, iou_threshold, max_detections, intra_op_threads) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise ConfigError(f"score threshold must be in [0, 1], got {score_threshold}")
    if not 0.0 < iou_threshold <= 1.0:
        raise ConfigError(f"IoU threshold must be in (0, 1], got {iou_threshold}")
    if not 1 <= max_detections <= MAX_BOXES:
        raise ConfigError(f"max detections must be in [1, {MAX_BOXES}], got {max_detections}")
    if intra_op_threads is not None and intra_op_threads < 1:
        raise ConfigError(f"threads must be at least 1, got {intra_op_threads}")


def _model_id(path: Path) -> str:
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, expected an .onnx file")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return f"{path.stem[:_MODEL_ID_STEM_CHARS]}-{digest[:8]}"


def _available_providers(requested: Sequence[str]) -> list[str]:
    if isinstance(requested, str):  # a lone name would otherwise be split into letters
        requested = (requested,)
    available = set(ort.get_available_providers())
    usable = [p for p in requested if p in available]
    missing = [p for p in requested if p not in available]
    if missing:
        log.warning(
            "execution providers not available in this onnxruntime, using CPU instead: %s", ", ".join(missing)
        )
    if "CPUExecutionProvider" not in usable:
        usable.append("CPUExecutionProvider")  # the fallback for nodes other providers cannot run
    return usable


def _open_session(path: Path, intra_op_threads: int | None, providers: list[str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One frame at a time through a sequential graph: parallelism inside ops is what helps.
    options.inter_op_num_threads = 1
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3  # errors only; ORT's warnings are noise on a user's terminal
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises a family of pybind11 classes with no common base but Exception
        raise ModelError(f"cannot load model {path}: {_ort_message(exc)}") from None


def _ort_message(exc: Exception) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    message = _ORT_PREFIX.sub("", lines[0]).strip() or lines[0]
    return message[:300]


def _image_input(session: ort.InferenceSession, path: Path) -> tuple[str, tuple[int, int]]:
    """Name and (H, W) of the model's single ``[1, 3, H, W]`` float32 input, else ModelError."""
    inputs = session.get_inputs()
    found = ", ".join(f"{i.name!r} {_shape_text(i.shape)} {i.type}" for i in inputs) or "no inputs"
    expected = (
        f"model {path}: expected one image input [1, 3, H, W] float32 with fixed H and W, found {found}"
    )
    if len(inputs) != 1:
        raise ModelError(expected)
    shape = inputs[0].shape
    if inputs[0].type != "tensor(float)" or len(shape) != 4:
        raise ModelError(expected)
    batch, channels, height, width = shape
    if not (_batch_of_one(batch) and channels == 3 and _fixed_size(height) and _fixed_size(width)):
        raise ModelError(expected)
    return inputs[0].name, (height, width)


def _yolox_output(
    session: ort.InferenceSession, path: Path, input_hw: tuple[int, int], num_points: int
) -> tuple[str, int]:
    """Name and class count of a ``[1, N, 5 + C]`` output whose N fits ``input_hw``, else ModelError."""
    outputs = session.get_outputs()
    found = ", ".join(f"{o.name!r} {_shape_text(o.shape)}" for o in outputs) or "no outputs"
    expected = (
        f"model {path}: expected one YOLOX output [1, {num_points}, 5 + C] "
        f"for a {input_hw[0]}x{input_hw[1]} input, found {found}"
    )
    if len(outputs) != 1 or len(outputs[0].shape) != 3:
        raise ModelError(expected)
    batch, points, row = outputs[0].shape
    # A symbolic point count is checked on the warm-up result; the class count must be fixed
    # because class names are settled before the first frame.
    points_fit = points == num_points or not _fixed_size(points)
    if not (_batch_of_one(batch) and points_fit and _fixed_size(row) and row > 5):
        raise ModelError(expected)
    return outputs[0].name, row - 5


def _class_names(names: Sequence[str] | None, num_classes: int, path: Path) -> tuple[str, ...]:
    if names is not None:
        names = tuple(names)
        if len(names) != num_classes:
            raise ModelError(
                f"model {path} predicts {num_classes} classes, but {len(names)} class names were given"
            )
        return names
    if num_classes == len(COCO_CLASSES):
        return COCO_CLASSES
    log.warning("model %s predicts %d classes, not COCO's 80; naming them class_<i>", path, num_classes)
    return tuple(f"class_{i}" for i in range(num_classes))


def _batch_of_one(dim) -> bool:
    # ORT reports a symbolic dim as a string (or None); we always feed a batch of one.
    return dim == 1 or dim is None or isinstance(dim, str)


def _fixed_size(dim) -> bool:
    return isinstance(dim, int) and dim > 0


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in shape) + "]"
