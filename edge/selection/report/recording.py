"""The selector of a sample run, wrapped so that every decision is noted (the timeline's data)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.frame_detections import Detections
from edge.selection.core import Decision
from edge.sources import Frame


class RecordingSelector:
    """A selector that also records every decision (one small dict per frame) and reports progress.

    A look-ahead selector decides on a frame later (``Decision.released``, ``flush``): the frame's
    row is then marked kept, with its reasons."""

    def __init__(self, selector, on_frame: Callable[[], None] = lambda: None):
        self.selector = selector
        self.on_frame = on_frame
        self.rows: list[dict] = []
        self._row_of: dict[int, dict] = {}
        """Frame index -> row, for the frames a look-ahead selector may still keep."""

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        decision = self.selector.consider(frame, detections, track_events)
        row = {"frame_index": frame.index, "source_ts": frame.source_ts, "keep": decision.keep,
               "reasons": decision.reasons, "vetoed_by": decision.vetoed_by,
               "rejected_for": decision.rejected_for, "signals": dict(decision.signals)}
        self.rows.append(row)
        self._row_of[frame.index] = row
        self._mark(decision.released)
        if len(self._row_of) > 4096:  # far beyond any look-ahead
            for index in list(self._row_of)[:2048]:
                del self._row_of[index]
        self.on_frame()
        return decision

    def flush(self) -> tuple:
        released = tuple(getattr(self.selector, "flush", tuple)())
        self._mark(released)
        return released

    def _mark(self, released) -> None:
        for kept in released:
            row = self._row_of.get(kept.frame.index)
            if row is not None:
                row.update(keep=True, reasons=kept.decision.reasons)
