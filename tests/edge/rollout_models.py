"""Model files for rollout tests, made from the shared model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.conftest import MODEL_PATH


def variant(tmp_path: Path, name: str = "nano_v2.onnx") -> Path:
    """The shared model's weights in another file (one more metadata entry): another model id, the same boxes."""
    model = onnx.load(str(MODEL_PATH))
    onnx.helper.set_model_props(model, {"note": "variant"})
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def nan_variant(tmp_path: Path, name: str = "nano_nan.onnx") -> Path:
    """The shared model with its output multiplied by NaN: it loads, and finds nothing (NaN scores
    pass no threshold) unless its raw output is looked at."""
    model = onnx.load(str(MODEL_PATH))
    output = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = [f"{o}_raw" if o == output else o for o in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array([np.nan], np.float32), "nan"))
    model.graph.node.append(helper.make_node("Mul", [f"{output}_raw", "nan"], [output]))
    path = tmp_path / name
    onnx.save(model, str(path))
    return path
