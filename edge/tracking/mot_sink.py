"""The pipeline's output for ``edgelabel-agent track``: every frame's confirmed tracks, as a MOTChallenge file.

:class:`EveryFrame` stands where the keyframe selector stands in ``run``, and passes every frame
on; :class:`MotFileSink` stands where the uplink stands, and writes each frame's boxes that carry
a track id as ``frame,id,x,y,w,h,score,-1,-1,-1`` lines, frames counted from 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ConfigError
from edge.evaluation.motfile import write_mot_frame
from edge.frame_detections import Detections
from edge.selection import Decision
from edge.sources import Frame
from edge.tracking.boxes import xyxy_to_tlwh
from edge.wire import NO_TRACK

if TYPE_CHECKING:
    from edge.uplink import Keyframe

EVERY_FRAME = Decision(keep=True, reasons=("every_frame",), priority=1.0)


class EveryFrame:
    """A selector that keeps every frame: tracking output is wanted for all of them."""

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        return EVERY_FRAME


class MotFileSink:
    """Writes the tracked boxes of each frame it is given to ``path``.

    The lines go to ``path.partial`` first; :meth:`commit` renames it to ``path`` once the whole
    source went through, so a run that fails or is interrupted leaves no half file (and an older
    ``path`` as it was).
    """

    def __init__(self, path: Path, on_frame: Callable[[], None] = lambda: None):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.on_frame = on_frame
        self.boxes = 0
        self.track_ids: set[int] = set()
        self._out = None

    def start(self) -> None:
        try:
            self._out = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish/abort
        except OSError as exc:
            raise self._error(exc) from None

    def put(self, keyframe: Keyframe) -> None:
        boxes = keyframe.detections
        tracked = boxes[boxes.tracker_id != NO_TRACK]
        try:
            self.boxes += write_mot_frame(self._out, keyframe.frame.index + 1, tracked.tracker_id,
                                          xyxy_to_tlwh(tracked.xyxy), tracked.confidence)
        except OSError as exc:
            raise self._error(exc) from None
        self.track_ids.update(int(i) for i in tracked.tracker_id)
        self.on_frame()

    def finish(self) -> None:
        """Close the file; the pipeline calls this after an error too, so it does not :meth:`commit`."""
        self._close()

    def abort(self) -> None:
        self.discard()

    def commit(self) -> None:
        """The run went through: the file takes its name."""
        self._close()
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise self._error(exc) from None

    def discard(self) -> None:
        """The run failed: the half-written file goes."""
        self._close()
        self.partial.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            try:
                out.close()
            except OSError as exc:
                raise self._error(exc) from None

    def _error(self, exc: OSError) -> ConfigError:
        return ConfigError(f"cannot write {self.path}: {exc.strerror or exc}")
