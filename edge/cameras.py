"""The cameras of one agent: from ``[source]`` (one camera) or ``[[cameras]]`` / repeated ``--source``.

Each camera becomes its own device at the collector, ``{agent device}/{camera name}``, sent over
the agent's one connection with the agent's one key. A single camera keeps the agent's own
device name, as before several cameras were possible.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.config import CAMERA_NAME, AgentConfig, SelectionConfig
from edge.contract.errors import ConfigError
from edge.contract.wire import CAMERA_SEPARATOR
from edge.errors import SourceError

log = logging.getLogger("edge.cameras")

_NAMED_SOURCE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,62})=(.+)$")
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0


@dataclass(frozen=True)
class CameraSpec:
    name: str
    """"" for the single camera of ``[source]`` (frames go out under the agent's device)."""
    source: str
    image_fps: float
    pace: float
    selection: SelectionConfig
    detect_every: int
    tiles: str
    decoder: str


def camera_specs(config: AgentConfig) -> list[CameraSpec]:
    """The cameras the config asks for, every unset override filled in from the shared tables."""
    det, src = config.detector, config.source
    if not config.cameras:
        return [CameraSpec("", src.source, src.image_fps, src.pace, config.selection, det.detect_every, det.tiles,
                           src.decoder)]
    names = [camera.name for camera in config.cameras]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"cameras: the names must differ; repeated: {', '.join(repeated)}")
    specs = []
    for camera in config.cameras:
        budget = config.selection.budget
        if camera.keyframes_per_minute >= 0:
            budget = dataclasses.replace(budget, keyframes_per_minute=camera.keyframes_per_minute)
        if camera.megabytes_per_hour >= 0:
            budget = dataclasses.replace(budget, megabytes_per_hour=camera.megabytes_per_hour)
        specs.append(CameraSpec(
            camera.name, camera.source, camera.image_fps or src.image_fps,
            src.pace if camera.pace < 0 else camera.pace,
            dataclasses.replace(config.selection, budget=budget),
            camera.detect_every or det.detect_every, camera.tiles or det.tiles, camera.decoder or src.decoder,
        ))  # fmt: skip
    return specs


def sources_from_flags(values: Sequence[str]) -> list[dict[str, str]]:
    """``--source`` given twice or more, as ``[[cameras]]`` tables: ``NAME=SRC``, or a name made
    from the source (its file name, else ``cam<i>``)."""
    cameras = []
    for index, value in enumerate(values):
        name, source = split_named(value)
        cameras.append({"name": name or _name_for(source, index), "source": source})
    taken: dict[str, int] = {}
    for camera in cameras:  # two clips with one file name: gate, gate-2
        taken[camera["name"]] = taken.get(camera["name"], 0) + 1
        if taken[camera["name"]] > 1:
            camera["name"] = f"{camera['name']}-{taken[camera['name']]}"
    return cameras


def split_named(value: str) -> tuple[str | None, str]:
    """``gate=clip.mp4`` -> ("gate", "clip.mp4"); a source without a name -> (None, the source).
    A URL is never split, even with a ``=`` in its query."""
    match = _NAMED_SOURCE.match(value)
    if match and not is_live(value):
        return match.group(1), match.group(2)
    return None, value


def _name_for(source: str, index: int) -> str:
    if is_live(source):
        return f"cam{index}"
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", source.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0])[:63].strip("-.")
    return stem if re.match(CAMERA_NAME, stem) else f"cam{index}"


def camera_device(agent_device: str, spec: CameraSpec) -> str:
    return f"{agent_device}{CAMERA_SEPARATOR}{spec.name}" if spec.name else agent_device


def is_live(source: str) -> bool:
    """A camera index or a stream URL (as opposed to a file or an image directory)."""
    from edge.sources import names_live_source

    return names_live_source(source)


def opener(spec: CameraSpec, stopping: threading.Event) -> Callable[[], object]:
    """Opens ``spec``'s source in its camera's capture thread. A live camera that cannot be opened
    yet is tried again with back-off (0.5 s doubling to 30 s) until it opens or the agent stops;
    a file or directory that cannot be opened fails its camera at once."""
    from edge.pacing import PacedSource
    from edge.sources import open_source

    def open_source_with_retries():
        delay = RETRY_INITIAL_S
        attempt = 0
        while True:
            try:
                source = open_source(spec.source, image_fps=spec.image_fps, decoder=spec.decoder)
                return PacedSource(source, spec.pace) if spec.pace else source
            except SourceError as exc:
                if not is_live(spec.source):
                    raise
                attempt += 1
                # The error names the source through its description, password already masked.
                log.warning("camera %s: %s; trying again in %.1f s (attempt %d)", spec.name, exc, delay, attempt)
                if stopping.wait(delay):
                    raise SourceError(f"camera {spec.name}: the agent stopped before its source opened") from None
                delay = min(delay * 2, RETRY_MAX_S)

    return open_source_with_retries
