"""Run an object detector on frames, on any runtime (ONNX Runtime or OpenVINO), whatever its output layout.

The runner loads and validates the model and runs it through a :mod:`.runtimes` backend; the pure
steps around it are the same code for every runtime and live elsewhere:
:mod:`.letterbox` prepares the input the model's family expects, :mod:`.layouts` recognises the
output layout, :mod:`.heads` decodes it and :mod:`.decode` selects and suppresses boxes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edge.config import SCORE_THRESHOLD
from edge.contract.errors import ConfigError
from edge.contract.wire import MAX_BOXES
from edge.detection.class_names import COCO_CLASSES
from edge.detection.heads import NmsSettings, OutputShapeError
from edge.detection.layouts import LayoutError, OutputInfo, recognise
from edge.detection.letterbox import InputFormat, Letterboxed, letterbox_as, unletterbox_xyxy
from edge.detection.metadata import ModelMetadata, parse_metadata
from edge.detection.model_file import model_id
from edge.detection.runtimes import ModelRuntime, RuntimeSettings, TensorSpec, open_runtime
from edge.errors import ModelError
from edge.frame_detections import Detections

log = logging.getLogger("edge.detector")

MAX_BATCH = 16
"""Most images in one batched inference (bounds the memory of a frame cut into many tiles)."""


class Detector:
    """An object detector from a model file: YOLOX, YOLOv5, YOLOv8/YOLO11 or end-to-end layouts.

    Args:
        model_path: an ``.onnx`` file, or an OpenVINO IR ``.xml`` (with its ``.bin``).
        score_threshold: minimum score of a returned box. Raising it gives fewer false positives
            but misses small, occluded or unusual objects; lowering it returns more candidates for
            review at the cost of noise.
        iou_threshold: overlap above which a weaker box of the same class is suppressed. Lower
            merges more duplicates but also distinct overlapping objects (crowds, parked cars).
        max_detections: cap on boxes per frame, best first (at most the wire limit).
        threads: threads the runtime uses inside one inference; ``None`` lets it pick (one per
            physical core). Fewer leaves cores to capture, tracking and encoding.
        runtime: which runtime runs the model and how (:class:`RuntimeSettings`: ONNX Runtime
            providers, OpenVINO device and precision); default ONNX Runtime on the CPU for ONNX
            files and OpenVINO for IR files. ``threads`` given here wins over the settings'.
        warmup: run one inference at construction, so the first real frame is not slow and a
            model that fails at run time fails here.
        class_names: names of the model's classes; default the model's own metadata, else COCO-80
            (generic names when the class count is not 80).
        layout: force an output layout (``yolox``, ``yolov5``, ``yolov8``, ``end2end``) instead of
            recognising it (see :mod:`.layouts` for the rules and when they can guess wrong).
    """

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = SCORE_THRESHOLD,
        iou_threshold: float = 0.45,
        max_detections: int = 300,
        threads: int | None = None,
        runtime: RuntimeSettings | None = None,
        warmup: bool = True,
        class_names: Sequence[str] | None = None,
        layout: str | None = None,
    ):
        _check_settings(score_threshold, iou_threshold, max_detections, threads)
        self._nms = NmsSettings(float(score_threshold), float(iou_threshold), int(max_detections))
        self._path = Path(model_path)
        self._model_id = model_id(self._path)
        settings = runtime if runtime is not None else RuntimeSettings()
        if threads is not None:
            settings = dataclasses.replace(settings, threads=threads)
        self._runtime = open_runtime(self._path, settings)
        metadata = parse_metadata(self._runtime.metadata)
        self._input_name, self._input_hw = _image_input(self._runtime.inputs, self._path, metadata)
        # A symbolic batch dimension: several views can go through one inference.
        self._takes_batches = not _fixed_size(self._runtime.inputs[0].shape[0])
        self._views_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._output_names = [o.name for o in self._runtime.outputs]
        blank = np.zeros((1, 3, *self._input_hw), np.float32)
        try:
            recognised = recognise(
                _output_infos(self._runtime.outputs), self._input_hw, metadata, lambda: self._run_all(blank), layout
            )
        except LayoutError as exc:
            raise ModelError(f"model {self._path}: {exc}") from None
        self._head = recognised.head
        self._input_format = recognised.input_format
        self._class_names = _class_names(class_names, metadata, recognised.num_classes, self._path)
        self._warned_unnamed_class = False
        log.info(
            "model %s: %s layout (%s), %s input, %d classes; runtime %s",
            self._model_id, self._head.layout, recognised.how, self._input_format.name, len(self._class_names),
            self._runtime.description,
        )  # fmt: skip
        if warmup:
            self.detect(np.full((*self._input_hw, 3), self._input_format.pad_value, np.uint8))

    @property
    def score_threshold(self) -> float:
        return self._nms.score_threshold

    @property
    def iou_threshold(self) -> float:
        return self._nms.iou_threshold

    @property
    def max_detections(self) -> int:
        return self._nms.max_detections

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    @property
    def model_id(self) -> str:
        """``{file stem}-{first 8 hex digits of the file's SHA-256}``: names the exact weights."""
        return self._model_id

    @property
    def runtime(self) -> ModelRuntime:
        """What runs the model (its :attr:`~ModelRuntime.tag` and :attr:`~ModelRuntime.description`)."""
        return self._runtime

    @property
    def streams(self) -> int:
        """How many threads may call :meth:`detect` at once (the runtime's streams)."""
        return self._runtime.streams

    @property
    def deployed_id(self) -> str:
        """``{model_id}@{runtime tag}``, e.g. ``yolox_nano-e8af0749@ov-cpu-f32``: the weights and
        where they ran, as the collector stores it with each frame and heartbeat."""
        return f"{self._model_id}@{self._runtime.tag}"

    @property
    def input_hw(self) -> tuple[int, int]:
        return self._input_hw

    @property
    def layout(self) -> str:
        """The output layout in use: ``yolox``, ``yolov5``, ``yolov8`` or ``end2end``."""
        return self._head.layout

    @property
    def input_format(self) -> InputFormat:
        """How frames are letterboxed and scaled for this model (its family's convention)."""
        return self._input_format

    @property
    def providers(self) -> tuple[str, ...]:
        """ONNX Runtime's execution providers in use; empty on another runtime."""
        return tuple(getattr(self._runtime, "providers", ()))

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Boxes in ``image_bgr`` (H x W x 3 uint8), in full-frame pixel xyxy clipped to the frame."""
        boxed = self.preprocess(image_bgr)
        return self.postprocess(self.infer(boxed.tensor), boxed, image_bgr.shape[:2])

    @property
    def takes_batches(self) -> bool:
        """True if the model's batch dimension is symbolic (see ``edgelabel-agent dynamic-batch``)."""
        return self._takes_batches

    def detect_many(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """:meth:`detect` for several images (the tiles of one frame, frames of several cameras).

        One inference for up to :data:`MAX_BATCH` images where the model takes batches; else one
        inference per image, side by side on the runtime's streams when it has several.
        """
        if self._takes_batches and len(images) > 1:
            found: list[Detections] = []
            for start in range(0, len(images), MAX_BATCH):
                found += self._detect_batch(images[start : start + MAX_BATCH])
            return found
        if self.streams > 1 and len(images) > 1:
            return list(self._pool().map(self.detect, images))
        return [self.detect(image) for image in images]

    def _detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        boxed = [self.preprocess(image) for image in images]
        outputs = self.infer(np.concatenate([b.tensor for b in boxed]))
        return [
            self.postprocess([output[index : index + 1] for output in outputs], one, image.shape[:2])
            for index, (one, image) in enumerate(zip(boxed, images))
        ]

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._views_pool is None:
                self._views_pool = ThreadPoolExecutor(self.streams, thread_name_prefix="views")
            return self._views_pool

    def preprocess(self, image_bgr: np.ndarray) -> Letterboxed:
        """The model input for ``image_bgr`` (letterboxed the way the model's family expects)."""
        return letterbox_as(image_bgr, self._input_hw, self._input_format)

    @property
    def input_name(self) -> str:
        return self._input_name

    @property
    def path(self) -> Path:
        return self._path

    @property
    def head_output_names(self) -> tuple[str, ...]:
        """The outputs :meth:`postprocess` reads, in the order it wants them."""
        return tuple(self._head.output_names)

    def postprocess(self, outputs: Sequence[np.ndarray], boxed: Letterboxed, frame_hw: tuple[int, int]) -> Detections:
        """Detections from the model's :attr:`head_output_names` outputs for one preprocessed frame.

        With :meth:`preprocess`, this lets other code run the same model in another way (a
        quantizer's candidate model, a batch) and still decode exactly as :meth:`detect` does.
        """
        try:
            kept = self._head.kept_boxes(outputs, self._nms)
        except OutputShapeError as exc:
            raise ModelError(f"model {self._path}: {exc}") from None
        frame_xyxy = unletterbox_xyxy(kept.xyxy, boxed.scale, frame_hw, boxed.offset_xy)
        # Boxes that lay only in the padding are empty once clipped to the frame.
        keep = (frame_xyxy[:, 2] > frame_xyxy[:, 0]) & (frame_xyxy[:, 3] > frame_xyxy[:, 1])
        keep &= self._named(kept.class_id)
        return Detections.from_arrays(frame_xyxy[keep], kept.confidence[keep], kept.class_id[keep])

    def _named(self, class_id: np.ndarray) -> np.ndarray:
        """Mask of class ids that have a name; end-to-end outputs can carry any label."""
        named = class_id < len(self._class_names)
        if not named.all() and not self._warned_unnamed_class:
            self._warned_unnamed_class = True
            log.warning(
                "model %s returned class id %d but has only %d class names; such boxes are dropped "
                "(give the model's labels file)",
                self._path, int(class_id[~named][0]), len(self._class_names),
            )  # fmt: skip
        return named

    def infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The model alone on a :meth:`preprocess` tensor: the :attr:`head_output_names` outputs,
        as :meth:`postprocess` takes them (what timing and quantization checks run)."""
        return self._runtime.run(self._head.output_names, {self._input_name: tensor})

    def _run_all(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self._runtime.run(self._output_names, {self._input_name: tensor})


def _check_settings(score_threshold, iou_threshold, max_detections, threads) -> None:
    if not 0.0 <= score_threshold <= 1.0:
        raise ConfigError(f"score threshold must be in [0, 1], got {score_threshold}")
    if not 0.0 < iou_threshold <= 1.0:
        raise ConfigError(f"IoU threshold must be in (0, 1], got {iou_threshold}")
    if not 1 <= max_detections <= MAX_BOXES:
        raise ConfigError(f"max detections must be in [1, {MAX_BOXES}], got {max_detections}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")


def _image_input(
    inputs: Sequence[TensorSpec], path: Path, metadata: ModelMetadata
) -> tuple[str, tuple[int, int]]:
    """Name and (H, W) of the model's single ``[1, 3, H, W]`` float32 input, else ModelError.

    A symbolic H and W (a dynamic export) take the export size from Ultralytics metadata.
    """
    found = ", ".join(f"{i.name!r} {_shape_text(i.shape)} {i.dtype}" for i in inputs) or "no inputs"
    expected = f"model {path}: expected one image input [1, 3, H, W] float32 with fixed H and W, found {found}"
    if len(inputs) != 1:
        raise ModelError(expected)
    shape = inputs[0].shape
    if inputs[0].dtype != "tensor(float)" or len(shape) != 4:
        raise ModelError(expected)
    batch, channels, height, width = shape
    if not _fixed_size(height) and not _fixed_size(width) and metadata.imgsz is not None:
        height, width = metadata.imgsz
    if not (_batch_of_one(batch) and channels == 3 and _fixed_size(height) and _fixed_size(width)):
        raise ModelError(expected)
    return inputs[0].name, (height, width)


def _output_infos(outputs: Sequence[TensorSpec]) -> list[OutputInfo]:
    return [OutputInfo(o.name, tuple(d if _fixed_size(d) else None for d in o.shape), o.dtype) for o in outputs]


def _class_names(
    names: Sequence[str] | None, metadata: ModelMetadata, num_classes: int | None, path: Path
) -> tuple[str, ...]:
    """Given names, else the model's metadata names, else COCO-80 (or ``class_<i>``)."""
    if names is not None:
        names = tuple(names)
        if num_classes is not None and len(names) != num_classes:
            raise ModelError(
                f"model {path} predicts {num_classes} classes, but {len(names)} class names were given"
            )
        return names
    if metadata.names is not None:
        if num_classes is None or len(metadata.names) == num_classes:
            return metadata.names
        log.warning(
            "model %s: metadata names %d classes but the model predicts %d; ignoring the metadata names",
            path, len(metadata.names), num_classes,
        )  # fmt: skip
    if num_classes is None or num_classes == len(COCO_CLASSES):
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
