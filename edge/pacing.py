"""Replay a file source at its recorded speed (or a multiple), as if it were a live camera.

Useful for demos, soak tests and fault tests: a clip then takes as long as it lasted (divided by
``speed``), and the pipeline treats it like a camera: when the detector falls behind, the oldest
waiting frame is dropped and counted instead of the replay slowing down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from edge.contract.errors import ConfigError
from edge.sources import Frame, FrameSource


class PacedSource(FrameSource):
    def __init__(self, source: FrameSource, speed: float = 1.0):
        if not speed > 0:
            raise ConfigError(f"--pace must be a positive speed factor (1 = real time), got {speed}")
        self._source = source
        self.speed = speed
        self._closed = threading.Event()

    @property
    def fps(self) -> float | None:
        return self._source.fps

    @property
    def is_live(self) -> bool:
        return True

    @property
    def description(self) -> str:
        return f"{self._source.description} replayed at {self.speed:g}x"

    def __iter__(self) -> Iterator[Frame]:
        started = time.monotonic()
        first_ts: float | None = None
        for frame in self._source:
            if first_ts is None:
                first_ts = frame.source_ts
            due = started + (frame.source_ts - first_ts) / self.speed
            # Event.wait rather than sleep: close() from another thread ends the wait at once.
            if self._closed.wait(max(0.0, due - time.monotonic())):
                return
            yield frame

    def close(self) -> None:
        self._closed.set()
        self._source.close()
