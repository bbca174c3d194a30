"""What an ONNX file says about itself: Ultralytics-style metadata, read without trusting it blindly.

Ultralytics exports (YOLOv8, YOLO11, ...) write ``names``, ``stride``, ``imgsz``, ``task`` and
``end2end`` into the model's ``metadata_props`` as Python literals (``"{0: 'person', ...}"``,
``"[640, 640]"``, ``"True"``); YOLOv5's own export writes ``names`` and ``stride``. Values are
parsed with :func:`ast.literal_eval` (never ``eval``), and a value that does not parse is ignored
with a warning rather than failing the model.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("edge.detector")


@dataclass(frozen=True)
class ModelMetadata:
    names: tuple[str, ...] | None = None
    """Class names in class-index order, from ``names``."""
    stride: int | None = None
    """Largest head stride, from ``stride``."""
    imgsz: tuple[int, int] | None = None
    """Export input size (H, W), from ``imgsz``; fixes a model with a symbolic input size."""
    task: str | None = None
    """``detect``, ``segment``, ``pose``, ``obb``, ``classify``, from ``task``."""
    end2end: bool | None = None
    """NMS (or an NMS-free head) inside the graph, from ``end2end``."""

    @property
    def is_ultralytics(self) -> bool:
        """Written by an Ultralytics exporter (YOLOv5 or later): it has both ``names`` and ``stride``."""
        return self.names is not None and self.stride is not None


def parse_metadata(props: Mapping[str, str]) -> ModelMetadata:
    """Read the fields above from a model's ``metadata_props`` (``custom_metadata_map`` in ORT)."""
    return ModelMetadata(
        names=_names(props.get("names")),
        stride=_int(props.get("stride"), "stride"),
        imgsz=_imgsz(props.get("imgsz")),
        task=props.get("task") or None,
        end2end=_bool(props.get("end2end")),
    )


def _literal(text: str | None, key: str):
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        log.warning("model metadata %r is not a literal, ignoring it: %.80s", key, text)
        return None


def _names(text: str | None) -> tuple[str, ...] | None:
    value = _literal(text, "names")
    if isinstance(value, dict):
        # {0: 'person', 1: 'bicycle'}: indices must be exactly 0..C-1 to be usable as class ids.
        if sorted(value) != list(range(len(value))):
            log.warning("model metadata 'names' does not map 0..%d to names, ignoring it", len(value) - 1)
            return None
        return tuple(str(value[i]) for i in range(len(value)))
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) for v in value)
    if value is not None:
        log.warning("model metadata 'names' is neither a dict nor a list, ignoring it")
    return None


def _int(text: str | None, key: str) -> int | None:
    value = _literal(text, key)
    if isinstance(value, (list, tuple)) and value:  # some exports write [8, 16, 32]
        value = max(value)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _imgsz(text: str | None) -> tuple[int, int] | None:
    value = _literal(text, "imgsz")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _bool(text: str | None) -> bool | None:
    value = _literal(text, "end2end")
    return value if isinstance(value, bool) else None
