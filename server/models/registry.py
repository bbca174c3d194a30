"""Registered model files: ``models add`` and ``models list``.

A model's bytes go into the media store under their SHA-256 (the same content addressing as
frames, so an S3 deployment keeps models in its bucket and every node reads the same file;
``media gc`` counts ``model_registry.sha256`` as a reference). Its row in ``model_registry``
holds what the agent's own code read from it (:func:`server.models.agent.inspect_model`): the
weights id the agent reports in every frame and heartbeat (``{file stem}-{8 hex of SHA-256}``),
format, layout, input size and class names. One file is registered once, under one name.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from edge.contract.limits import MAX_NAME_CHARS
from edge.contract.wire import weights_id
from server.db import Database
from server.field_precision import reviewed_prelabels
from server.media import MediaBackend
from server.models import ModelRegistryError
from server.models.agent import inspect_model

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    sha256: str
    model_id: str
    """The weights id devices report (``yolox_nano-e8af0749``), without the ``@runtime`` part."""
    file_name: str
    """The file name it was registered from: the agent derives ``model_id`` from its stem."""
    format: str
    layout: str
    input_height: int
    input_width: int
    class_names: tuple[str, ...]
    size_bytes: int
    added_at: float

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["class_names"] = list(self.class_names)
        return doc


def check_name(name: str) -> str:
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise ModelRegistryError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
                                 f"(at most {MAX_NAME_CHARS} characters, starting with a letter or digit)")
    return name


def add_model(db: Database, media: MediaBackend, path: Path, name: str | None = None,
              now: float | None = None) -> RegisteredModel:
    """Register the ONNX file at ``path`` as ``name`` (default: its stem)."""
    path = Path(path)
    if not path.is_file():
        raise ModelRegistryError(f"model file not found: {path}")
    if path.suffix.lower() != ".onnx":
        raise ModelRegistryError(f"{path.name}: the registry takes one ONNX file (.onnx); an OpenVINO IR "
                                 "is made from it on the device by 'edgelabel-agent quantize'")
    name = check_name(name or path.stem)
    info = inspect_model(path)
    data = path.read_bytes()
    model = RegisteredModel(
        name=name, sha256=info["sha256"], model_id=info["model_id"], file_name=path.name, format=info["format"],
        layout=info["layout"], input_height=int(info["input_hw"][0]), input_width=int(info["input_hw"][1]),
        class_names=tuple(info["classes"]), size_bytes=len(data), added_at=time.time() if now is None else now)
    with db.read("look up registered models") as conn:
        _check_new(conn, model)
    # The file first, then its row: a crash in between leaves an object 'media gc' removes.
    if media.put(data) != model.sha256:
        raise ModelRegistryError(f"{path}: the file changed while it was being registered")
    with db.write("register a model") as conn:
        _check_new(conn, model)
        row = model.to_json()
        row["class_names"] = json.dumps(row["class_names"])
        conn.execute(text(f"INSERT INTO model_registry ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
                     row)
    return model


def _check_new(conn: Connection, model: RegisteredModel) -> None:
    same = conn.execute(text("SELECT name FROM model_registry WHERE name = :name OR sha256 = :sha256"),
                        {"name": model.name, "sha256": model.sha256}).scalars().all()
    if model.name in same:
        raise ModelRegistryError(f"a model named {model.name!r} is registered already (models list)")
    if same:
        raise ModelRegistryError(f"this file is registered already, as {same[0]!r}")


def registered_models(conn: Connection) -> list[RegisteredModel]:
    rows = conn.execute(text("SELECT * FROM model_registry ORDER BY added_at, name")).mappings().all()
    return [_model(row) for row in rows]


def get_model(conn: Connection, name: str) -> RegisteredModel:
    row = conn.execute(text("SELECT * FROM model_registry WHERE name = :name"), {"name": name}).mappings().first()
    if row is None:
        known = ", ".join(model.name for model in registered_models(conn)) or "none yet, see 'models add'"
        raise ModelRegistryError(f"no model named {name!r} is registered (registered: {known})")
    return _model(row)


def _model(row) -> RegisteredModel:
    values = dict(row)
    values["class_names"] = tuple(json.loads(values["class_names"]))
    return RegisteredModel(**values)


def devices_running(conn: Connection) -> dict[str, list[dict]]:
    """Weights id -> the devices whose last heartbeat named it (device, model_id with runtime, received_at)."""
    running: dict[str, list[dict]] = {}
    for row in conn.execute(text("SELECT device, model_id, received_at FROM device_status ORDER BY device")):
        running.setdefault(weights_id(row.model_id), []).append(
            {"device": row.device, "model_id": row.model_id, "received_at": row.received_at})
    return running


def reviewer_precision(conn: Connection) -> dict[str, list[dict]]:
    """Weights id -> per device and model id (with runtime): how the model's pre-labels fared in review.

    ``precision`` is the share of its boxes on verified frames (accepted or corrected) that
    reviewers kept unchanged; the definition is :mod:`server.field_precision`'s, the dashboard's.
    """
    by_weights: dict[str, list[dict]] = {}
    for row in reviewed_prelabels(conn):
        by_weights.setdefault(weights_id(row["model_id"]), []).append(
            {key: row[key] for key in ("device", "model_id", "verified_frames", "prelabel_boxes", "kept_unchanged",
                                       "precision")})
    return by_weights


def list_models(db: Database) -> list[dict]:
    """Every registered model with the devices running it, its reviewer precision per device and
    its deployments (``models list``)."""
    from server.models.deployments import deployments_by_model  # it builds on this module

    with db.read("list registered models") as conn:
        running = devices_running(conn)
        reviewed = reviewer_precision(conn)
        deployed = deployments_by_model(conn)
        return [{**model.to_json(), "devices": running.get(model.model_id, []),
                 "reviewed": reviewed.get(model.model_id, []), "deployments": deployed.get(model.sha256, [])}
                for model in registered_models(conn)]


def write_model_file(media: MediaBackend, model: RegisteredModel, directory: Path) -> Path:
    """The model's bytes as ``directory/<its registered file name>`` (the name keeps its model id)."""
    data = media.get(model.sha256)
    if hashlib.sha256(data).hexdigest() != model.sha256:
        raise ModelRegistryError(f"the stored file of model {model.name!r} does not match its SHA-256")
    path = Path(directory) / model.file_name
    path.write_bytes(data)
    return path
