"""Model files on disk: which format a path holds, and the id that names its exact weights.

Two formats: ONNX (one ``.onnx`` file) and OpenVINO IR (``model.xml`` with its weights in
``model.bin`` beside it), which ``edgelabel-agent quantize --target openvino`` writes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from edge.errors import ModelError

ONNX = "onnx"
OPENVINO_IR = "openvino-ir"

MODEL_ID_STEM_CHARS = 100
"""With ``-`` and 8 hex digits, plus ``@`` and a runtime tag of up to 18 characters, a model id
stays within the wire format's 128-character names."""


def model_format(path: Path) -> str:
    """:data:`ONNX` or :data:`OPENVINO_IR`, by the file name (``.xml`` is IR, anything else ONNX)."""
    return OPENVINO_IR if path.suffix.lower() == ".xml" else ONNX


def weights_path(path: Path) -> Path:
    """The IR's ``.bin`` beside its ``.xml``."""
    return path.with_suffix(".bin")


def model_files(path: Path) -> list[Path]:
    """Every file the model at ``path`` consists of; ModelError if one is missing."""
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, expected an .onnx or OpenVINO .xml file")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if model_format(path) == ONNX:
        return [path]
    weights = weights_path(path)
    if not weights.is_file():
        raise ModelError(f"OpenVINO model {path}: its weights file {weights.name} is missing beside it")
    return [path, weights]


def model_id(path: Path) -> str:
    """``{file stem}-{first 8 hex digits of SHA-256}``, over both files of an IR; ModelError if unreadable."""
    digest = hashlib.sha256()
    try:
        for file in model_files(path):
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return f"{path.stem[:MODEL_ID_STEM_CHARS]}-{digest.hexdigest()[:8]}"
