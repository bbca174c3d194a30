"""Where a new frame goes in the review queue: the frames most likely to improve the model first.

A frame's ``review_priority`` (0..1) is a weighted sum of five factors, each 0..1, kept next to it
as ``priority_factors`` so the UI can say why a frame came first:

* ``edge``: the priority the edge's keyframe selector gave it (a scene change outranks a heartbeat).
* ``uncertainty``: how close the least certain box is to a coin flip (score 0.5 gives 1, 0.9 gives
  0.2): the boxes the model is least sure of are where a correction teaches it most.
* ``novelty``: how much of the picture differs from the closest stored frame (from the duplicate
  check; 1 when nothing stored looks like it).
* ``rarity``: the rarest class among its boxes, by how many boxes of that class the collector has
  seen (a class never seen before gives 1, the most common class 0).
* ``track_start``: a track id this device has not shown recently (a new object entered), or an
  edge reason naming a track event.

Class counts and recent track ids are loaded from the database at start-up and updated as frames
are committed; a score uses the counts as they were before its batch.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, text

from edge.contract.wire import NO_TRACK, FrameHeader


@dataclass(frozen=True)
class PriorityWeights:
    """Weights of the factors; they are normalised to sum to 1."""

    edge: float = 0.30
    uncertainty: float = 0.20
    novelty: float = 0.15
    rarity: float = 0.20
    track_start: float = 0.15


RECENT_TRACKS_PER_DEVICE = 10_000
"""Track ids remembered per device; an id older than that counts as new again (trackers restart)."""

TRACKS_LOADED_FROM_LAST_FRAMES = 50_000


class PriorityScorer:
    def __init__(self, weights: PriorityWeights | None = None):
        self.weights = weights or PriorityWeights()
        total = sum(asdict(self.weights).values())
        if not (math.isfinite(total) and total > 0) or min(asdict(self.weights).values()) < 0:
            raise ValueError(f"weights: expected non-negative numbers with a positive sum, got {self.weights}")
        self._normalised = {name: weight / total for name, weight in asdict(self.weights).items()}
        self._class_counts: Counter[str] = Counter()
        self._recent_tracks: dict[str, OrderedDict[int, None]] = {}

    def load(self, conn: Connection) -> None:
        """Class counts and each device's recent track ids, from the stored frames."""
        self._class_counts = Counter(dict(conn.execute(text(
            "SELECT class_name, COUNT(*) FROM detections GROUP BY class_name")).all()))
        self._recent_tracks = {}
        last_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM frames")).scalar_one()
        for device, track_id in conn.execute(text(
            "SELECT f.device, d.track_id FROM detections d JOIN frames f ON f.id = d.frame_id"
            " WHERE d.frame_id > :since AND d.track_id IS NOT NULL ORDER BY d.frame_id"),
            {"since": last_id - TRACKS_LOADED_FROM_LAST_FRAMES},
        ):
            self._remember_track(device, track_id)

    def score(self, header: FrameHeader, novelty: float, batch_tracks: set[tuple[str, int]] | None = None) -> tuple[float, dict]:
        """(priority, factors) of a frame. ``batch_tracks``: track ids seen earlier in the same batch."""
        factors = {
            "edge": _clip(header.priority),
            "uncertainty": self._uncertainty(header),
            "novelty": _clip(novelty),
            "rarity": self._rarity(header),
            "track_start": self._track_start(header, batch_tracks or set()),
        }
        priority = sum(self._normalised[name] * value for name, value in factors.items())
        return round(priority, 6), {name: round(value, 4) for name, value in factors.items()}

    def observe(self, header: FrameHeader) -> None:
        """Count a committed frame's boxes and remember its track ids."""
        for class_id in header.labels.class_id:
            self._class_counts[header.class_names[class_id]] += 1
        for track_id in header.labels.track_id:
            if track_id != NO_TRACK:
                self._remember_track(header.device, track_id)

    def _uncertainty(self, header: FrameHeader) -> float:
        scores = header.labels.score
        return max((1.0 - abs(2.0 * score - 1.0) for score in scores), default=0.0)

    def _rarity(self, header: FrameHeader) -> float:
        if not header.labels.class_id:
            return 0.0
        most_common = max(self._class_counts.values(), default=0)
        if most_common == 0:
            return 1.0
        rarest = min(self._class_counts[header.class_names[class_id]] for class_id in header.labels.class_id)
        return 1.0 - math.log1p(rarest) / math.log1p(most_common)

    def _track_start(self, header: FrameHeader, batch_tracks: set[tuple[str, int]]) -> float:
        if any("track" in reason for reason in header.reasons):
            return 1.0
        recent = self._recent_tracks.get(header.device, {})
        for track_id in header.labels.track_id:
            if track_id != NO_TRACK and track_id not in recent and (header.device, track_id) not in batch_tracks:
                return 1.0
        return 0.0

    def _remember_track(self, device: str, track_id: int) -> None:
        recent = self._recent_tracks.setdefault(device, OrderedDict())
        recent[track_id] = None
        recent.move_to_end(track_id)
        if len(recent) > RECENT_TRACKS_PER_DEVICE:
            recent.popitem(last=False)


def _clip(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
