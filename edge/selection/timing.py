"""Time bounds: the first frame, a minimum gap between kept frames, and a heartbeat."""

from __future__ import annotations

import math

from edge.contract.config_files import SettingError
from edge.selection.core import ABSTAIN, PRIORITY_FIRST, Candidate, KeptHistory, Vote


class IntervalPolicy:
    """The first frame, a heartbeat after a long quiet spell, and a minimum gap.

    * The first frame is kept (reason ``first``, priority 1).
    * A frame closer than ``min_gap_s`` (source time) to the last kept frame is forbidden
      (bound ``min_gap``), whatever other policies say. Raising it caps the send rate harder
      (fewer near-duplicates, less bandwidth) but can miss a short event that follows another
      one; lowering it lets bursts of change through. 0 turns the bound off.
    * A frame ``max_gap_s`` or more after the last kept frame is kept (reason ``heartbeat``), so
      a static scene still shows up now and then. Raising it sends fewer frames of unchanged
      scenes; lowering it samples slow drifts (light, parked cars) more often. None turns
      heartbeats off.
    * ``heartbeat_priority``: a heartbeat only shows the scene is unchanged, so it is low (the
      first thing a budget or a full spool drops).

    If source time runs backwards (a live source reopened by hand, a file with broken stamps)
    the next frame is kept as a heartbeat rather than forbidden until time catches up.
    """

    def __init__(self, min_gap_s: float = 1.0, max_gap_s: float | None = 30.0, heartbeat_priority: float = 0.1):
        if not (math.isfinite(min_gap_s) and min_gap_s >= 0):
            raise SettingError("min_gap_s", min_gap_s, "seconds >= 0")
        if max_gap_s is not None and not (math.isfinite(max_gap_s) and max_gap_s > min_gap_s):
            raise SettingError("max_gap_s", max_gap_s, f"seconds > min_gap_s ({min_gap_s})")
        if not 0 <= heartbeat_priority <= 1:
            raise SettingError("heartbeat_priority", heartbeat_priority, "a priority in [0, 1]")
        self.min_gap_s = float(min_gap_s)
        self.max_gap_s = None if max_gap_s is None else float(max_gap_s)
        self.heartbeat_priority = float(heartbeat_priority)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        last = history.last
        if last is None:
            return Vote.keep("first", PRIORITY_FIRST)
        elapsed = candidate.frame.source_ts - last.source_ts
        if elapsed < 0:
            return Vote.keep("heartbeat", self.heartbeat_priority)
        if elapsed < self.min_gap_s:
            return Vote.forbid("min_gap")
        if self.max_gap_s is not None and elapsed >= self.max_gap_s:
            return Vote.keep("heartbeat", self.heartbeat_priority)
        return ABSTAIN

    def __repr__(self) -> str:
        return f"IntervalPolicy(min_gap_s={self.min_gap_s}, max_gap_s={self.max_gap_s})"
