"""The pipeline's output for ``edgelabel-agent track``: every frame's confirmed tracks, as a MOTChallenge file.

:class:`EveryFrame` stands where the keyframe selector stands in ``run``, and passes every frame
on; :class:`MotFileSink` stands where the uplink stands, and writes each frame's boxes that carry
a track id as ``frame,id,x,y,w,h,score,-1,-1,-1`` lines, frames counted from 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from edge.contract.boxes import xyxy_to_xywh
from edge.contract.errors import ConfigError
from edge.contract.files import atomic_file
from edge.contract.motfile import write_mot_frame
from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.selection import Decision
from edge.sources import Frame

if TYPE_CHECKING:
    from edge.uplink import Keyframe

EVERY_FRAME = Decision(keep=True, reasons=("every_frame",), priority=1.0)


class EveryFrame:
    """A selector that keeps every frame: tracking output is wanted for all of them."""

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        return EVERY_FRAME


class MotFileSink:
    """Writes the tracked boxes of each frame it is given to ``path``.

    The lines go to a temporary file beside ``path`` (:func:`~edge.contract.files.atomic_file`);
    :meth:`commit` renames it to ``path`` once the whole source went through, so a run that fails
    or is interrupted leaves no half file (and an older ``path`` as it was).
    """

    def __init__(self, path: Path, on_frame: Callable[[], None] = lambda: None):
        self.path = Path(path)
        self.on_frame = on_frame
        self.boxes = 0
        self.track_ids: set[int] = set()
        self._out = None
        self._file = ExitStack()  # holds the atomic file open between start and commit/discard

    def start(self) -> None:
        try:
            self._out = self._file.enter_context(atomic_file(self.path, encoding="utf-8"))
        except OSError as exc:
            raise self._error(exc) from None

    def put(self, keyframe: Keyframe) -> None:
        boxes = keyframe.detections
        tracked = boxes[boxes.tracker_id != NO_TRACK]
        try:
            self.boxes += write_mot_frame(self._out, keyframe.frame.index + 1, tracked.tracker_id,
                                          xyxy_to_xywh(tracked.xyxy), tracked.confidence)
        except OSError as exc:
            raise self._error(exc) from None
        self.track_ids.update(int(i) for i in tracked.tracker_id)
        self.on_frame()

    def finish(self) -> None:
        """The pipeline calls this after an error too, so the file is kept only by :meth:`commit`."""

    def abort(self) -> None:
        self.discard()

    def commit(self) -> None:
        """The run went through: the file is synced and takes its name."""
        out, self._out = self._out, None
        if out is None:
            return
        try:
            self._file.close()
        except OSError as exc:
            raise self._error(exc) from None

    def discard(self) -> None:
        """The run failed: the half-written file goes (a no-op after :meth:`commit`)."""
        if self._out is not None:
            self._out = None
            # Leaving the atomic file with an exception removes the temporary file.
            self._file.__exit__(RuntimeError, RuntimeError("track run discarded"), None)

    def _error(self, exc: OSError) -> ConfigError:
        return ConfigError(f"cannot write {self.path}: {exc.strerror or exc}")
