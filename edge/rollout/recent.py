"""A sink in front of the uplink that remembers the last few kept frames (what a new model is
smoke-tested on) and, in shadow mode, hands every Nth kept frame to the rollout thread."""

from __future__ import annotations

import queue
import threading
from collections import deque

RECENT_FRAMES = 3
SHADOW_QUEUE = 4
"""Sampled frames waiting for the rollout thread; more are skipped (not counted), so shadowing
never holds the pipeline up."""


class RecentFrames:
    def __init__(self, sink, keep: int = RECENT_FRAMES):
        self.sink = sink
        self._recent: deque = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._every = 0
        self._kept_since = 0
        self.samples: queue.Queue = queue.Queue(maxsize=SHADOW_QUEUE)

    def images(self) -> list:
        with self._lock:
            return list(self._recent)

    def sample_every(self, every: int) -> None:
        """Start (``every`` >= 1) or stop (0) handing kept frames to :attr:`samples`."""
        with self._lock:
            self._every = every
            self._kept_since = 0
        while True:  # what was sampled for an earlier shadow run is not this one's
            try:
                self.samples.get_nowait()
            except queue.Empty:
                break

    def start(self) -> None:
        self.sink.start()

    def put(self, keyframe) -> None:
        image = keyframe.frame.image
        with self._lock:
            self._recent.append(image)
            sample = False
            if self._every:
                self._kept_since += 1
                sample = self._kept_since >= self._every
                if sample:
                    self._kept_since = 0
        if sample:
            try:
                self.samples.put_nowait(image)
            except queue.Full:
                pass
        self.sink.put(keyframe)

    def finish(self) -> None:
        self.sink.finish()

    def abort(self) -> None:
        self.sink.abort()
