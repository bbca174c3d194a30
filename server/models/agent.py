"""The agent's model code, run in a subprocess of the same Python (``python -m edge ...``).

The collector may import only ``edge.contract`` (``tests/test_boundaries.py``): the detector needs
ONNX Runtime and OpenCV, which a collector host need not have. Running the agent's command line
keeps that boundary and means a model is described and run by exactly the code a device runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from server.models import ModelRegistryError

_IMAGES_PER_CALL = 200
"""Images per ``detect`` process: bounds the command line, and the model loads once per call."""


def _agent(args: list[str], what: str) -> dict:
    command = [sys.executable, "-m", "edge", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ModelRegistryError(f"cannot {what}: cannot start the agent: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        if "No module named" in reason:
            reason += " (evaluating and registering models needs the agent installed: pip install 'edgelabel[edge]')"
        raise ModelRegistryError(f"cannot {what}: {reason}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise ModelRegistryError(f"cannot {what}: the agent printed no JSON") from None


def inspect_model(path: Path) -> dict:
    """``edgelabel-agent inspect --json``: model_id, format, sha256, layout, input_hw, classes."""
    return _agent(["inspect", "--json", "--model", str(path)], f"read model {path.name}")


def detect(model: Path, images: list[Path], score_threshold: float) -> dict[str, list[dict]]:
    """Each image's boxes (``detect --json``'s ``detections``: class_name, score, xyxy), by path."""
    found: dict[str, list[dict]] = {}
    for start in range(0, len(images), _IMAGES_PER_CALL):
        batch = [str(path) for path in images[start:start + _IMAGES_PER_CALL]]
        doc = _agent(["detect", "--json", "--model", str(model), "--score-threshold", str(score_threshold),
                      *batch], f"run model {model.name}")
        found.update({result["path"]: result["detections"] for result in doc["images"]})
    return found
