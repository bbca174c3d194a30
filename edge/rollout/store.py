"""The agent's model store: the files rollouts delivered, and which one it runs.

Layout (``--model-store``, default ``<spool dir>/models``)::

    state.json                      current and previous (last good) model, each finished deployment's outcome
    <sha256>/<file name>.onnx       an accepted file under the name it was offered with (the
                                    model id derives from the stem)
    <sha256>/<file name>.onnx.partial   a download in progress (continued after a restart)

``state.json`` is replaced atomically, so a crash leaves the old state or the new one. Only the
current and previous models' files are kept: a rollback to the previous model needs no download.
The first accepted model makes the ``--model`` file the agent ran until then the previous one
(copied in, ONNX only), so a rollback to it needs none either.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edge.contract.downloads import sha256_of
from edge.contract.files import atomic_file, atomic_write_text
from edge.contract.rollout import ModelOffer
from edge.detection.model_file import MODEL_ID_STEM_CHARS, ONNX, model_format

log = logging.getLogger("edge.rollout")

STATE_FILE = "state.json"
FINISHED_KEPT = 200
"""Deployment ids remembered as finished (offers of them are ignored): far more than a device sees
repeated while an outcome report is on its way."""


@dataclass(frozen=True)
class StoredModel:
    sha256: str
    file_name: str
    name: str
    """The model's name in the collector's registry."""
    model_id: str
    """The weights id the collector expects (``{stem}-{8 hex}``)."""
    deployment: int
    accepted_at: float


class ModelStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.current: StoredModel | None = None
        self.previous: StoredModel | None = None
        self.finished: dict[int, str] = {}
        """Outcome of each deployment this device finished (oldest first, the last :data:`FINISHED_KEPT`)."""
        self._read()

    def _read(self) -> None:
        path = self.directory / STATE_FILE
        if not path.exists():
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.current = _entry(doc.get("current"))
            self.previous = _entry(doc.get("previous"))
            self.finished = {int(d): str(outcome) for d, outcome in doc.get("finished", {}).items()}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("model store %s: unreadable %s (%s); starting from --model", self.directory, STATE_FILE, exc)
            self.current = self.previous = None
            self.finished = {}

    def _write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        doc = {"current": asdict(self.current) if self.current else None,
               "previous": asdict(self.previous) if self.previous else None,
               "finished": {str(d): outcome for d, outcome in list(self.finished.items())[-FINISHED_KEPT:]}}
        atomic_write_text(self.directory / STATE_FILE, json.dumps(doc, indent=2) + "\n")

    def path_of(self, model: StoredModel) -> Path:
        return self.directory / model.sha256 / model.file_name

    def file_for(self, offer: ModelOffer) -> Path:
        return self.directory / offer.sha256 / offer.file_name

    def partial_for(self, offer: ModelOffer) -> Path:
        return self.file_for(offer).with_name(offer.file_name + ".partial")

    def have(self, offer: ModelOffer) -> Path | None:
        """The offered file when the store already holds it intact (a rollback, a repeat). Held
        under another name (the adopted ``--model``), it is copied to the offered name first: the
        model id derives from the file name."""
        path = self.file_for(offer)
        folder = path.parent
        held = [path, *sorted(f for f in folder.glob("*.onnx") if f != path)] if folder.is_dir() else []
        for candidate in held:
            if candidate.is_file() and candidate.stat().st_size == offer.size_bytes and \
                    sha256_of(candidate) == offer.sha256:
                if candidate != path:
                    _copy(candidate, path)
                return path
        return None

    def outcome(self, deployment: int) -> str | None:
        """The outcome ``deployment`` had here, if it is finished."""
        return self.finished.get(deployment)

    def finish(self, deployment: int, outcome: str) -> None:
        """Remember ``deployment``'s outcome: its offer is not acted on again."""
        if self.finished.get(deployment) != outcome:
            self.finished[deployment] = outcome
            self._write()

    def accept(self, offer: ModelOffer, running: Path | None = None) -> None:
        """``offer``'s file (in the store) is now the current model; the current one becomes the
        previous (the first time: ``running``, the ``--model`` file), and files of neither are removed."""
        if self.current is None and running is not None:
            self.previous = self._adopt(running)
        elif self.current is not None and self.current.sha256 != offer.sha256:
            self.previous = self.current
        self.current = StoredModel(offer.sha256, offer.file_name, offer.name, offer.model_id, offer.deployment,
                                   time.time())
        self.finished[offer.deployment] = "running"
        self._write()
        self._prune()

    def _adopt(self, running: Path) -> StoredModel | None:
        """A copy of the model file the agent was started with, as a stored model (ONNX only)."""
        if model_format(running) != ONNX:
            return None
        try:
            sha256 = sha256_of(running)
            _copy(running, self.directory / sha256 / running.name)
        except OSError as exc:
            log.warning("could not keep a copy of %s in the model store (%s); a rollback to it downloads it",
                        running, exc)
            return None
        return StoredModel(sha256, running.name, "--model", model_id_of(running.name, sha256), 0, time.time())

    def discard(self, offer: ModelOffer) -> None:
        """Remove a file that was refused or failed (never the current or previous model's)."""
        if offer.sha256 not in self._kept():
            shutil.rmtree(self.directory / offer.sha256, ignore_errors=True)

    def _kept(self) -> set[str]:
        return {model.sha256 for model in (self.current, self.previous) if model is not None}

    def _prune(self) -> None:
        kept = self._kept()
        for folder in self.directory.iterdir():
            if folder.is_dir() and folder.name not in kept and not any(folder.glob("*.partial")):
                shutil.rmtree(folder, ignore_errors=True)

    def describe(self) -> dict:
        """The store as JSON (``edgelabel-agent inspect``-style output)."""
        return {"directory": str(self.directory),
                "current": {**asdict(self.current), "path": str(self.path_of(self.current))} if self.current else None,
                "previous": {**asdict(self.previous), "path": str(self.path_of(self.previous))}
                if self.previous else None,
                "finished": {str(d): outcome for d, outcome in list(self.finished.items())[-20:]}}


def model_id_of(file_name: str, sha256: str) -> str:
    """The weights id :func:`edge.detection.model_file.model_id` gives that file."""
    return f"{Path(file_name).stem[:MODEL_ID_STEM_CHARS]}-{sha256[:8]}"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle, atomic_file(target) as out:
        shutil.copyfileobj(handle, out)


def _entry(doc) -> StoredModel | None:
    if doc is None:
        return None
    return StoredModel(sha256=str(doc["sha256"]), file_name=str(doc["file_name"]), name=str(doc["name"]),
                       model_id=str(doc["model_id"]), deployment=int(doc["deployment"]),
                       accepted_at=float(doc["accepted_at"]))

