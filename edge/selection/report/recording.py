"""The selector of a sample run, wrapped so that every decision is noted (the timeline's data)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.frame_detections import Detections
from edge.selection.core import Decision
from edge.sources import Frame


class RecordingSelector:
    """A selector that also records every decision (one small dict per frame) and reports progress."""

    def __init__(self, selector, on_frame: Callable[[], None] = lambda: None):
        self.selector = selector
        self.on_frame = on_frame
        self.rows: list[dict] = []

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        decision = self.selector.consider(frame, detections, track_events)
        self.rows.append({"frame_index": frame.index, "source_ts": frame.source_ts, "keep": decision.keep,
                          "reasons": decision.reasons, "vetoed_by": decision.vetoed_by,
                          "rejected_for": decision.rejected_for, "signals": dict(decision.signals)})
        self.on_frame()
        return decision
