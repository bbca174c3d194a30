"""Track lifecycle events: what happened to which track at an update.

A track is *started* by a confident detection no track took; it is *confirmed* once it has been
matched on enough consecutive updates (only then do its boxes carry its id); a confirmed track
that gets no detection is *lost* (kept, predicted, and searched for) and *recovered* if a
detection matches it again; a track is *ended* when it is dropped: a lost track after its
buffer ran out, a tentative one at its first miss, or a duplicate of an older track.

The keyframe selector reads these to keep frames where objects appear, leave or come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TrackEventKind(str, Enum):
    STARTED = "started"
    CONFIRMED = "confirmed"
    LOST = "lost"
    RECOVERED = "recovered"
    ENDED = "ended"


@dataclass(frozen=True)
class TrackEvent:
    kind: TrackEventKind
    track_id: int
    class_id: int
    xyxy: tuple[float, float, float, float]
    """The track's box at the event: the matched detection for started, confirmed and recovered;
    the predicted box for lost and ended."""
    score: float
    """Score of the track's last matched detection."""
    age_frames: int
    """Frames since the track started (0 on ``started``)."""
    confirmed: bool
    """Whether the track was ever confirmed; an ``ended`` event with False is a detection that never
    became a track (a flicker or a false positive), usually not worth a reviewer's time."""
