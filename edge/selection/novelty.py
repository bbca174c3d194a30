"""Scene change and novelty: how the picture compares with the frames already kept.

Both compare compact signatures of the analysis image with those of recently kept frames, never
only with the previous frame: a scene that swings back and forth between two looks (a door, a
passing shadow, a pan-tilt patrol) is then not sent again and again.

* :class:`SceneChangePolicy` measures *local* change: the share of a 32x32 gray thumbnail that
  changed (a person walking in), against the last few kept frames.
* :class:`NoveltyPolicy` measures *global* look: the Hamming distance between 64-bit perceptual
  hashes, against the whole history (64 kept frames). It fires on a new view, a light switched
  on or off, a large object filling the picture, and gives those frames a higher priority than a
  routine scene change, so they survive a tight budget.
"""

from __future__ import annotations

import math

import numpy as np

from edge.contract.config_files import SettingError
from edge.contract.phash import hamming
from edge.selection.core import ABSTAIN, HISTORY_LENGTH, Candidate, KeptHistory, Vote
from edge.selection.thumbnails import changed_fractions


class SceneChangePolicy:
    """Keep a frame whose picture differs from every recently kept one (reason ``scene_change``).

    The distance is :func:`edge.contract.phash.changed_fraction` of 32x32 gray thumbnails: the share of
    the picture whose brightness changed by more than ``pixel_delta`` (0-255) after removing a
    global brightness shift. The frame is kept when that share exceeds ``threshold`` against each
    of the last ``compare_with_last`` kept frames.

    * ``threshold`` (0..1): lowering it catches smaller changes (a person far away, a head at the
      edge of the picture) but also sends near-duplicates (a person shifting while standing) and
      camera shake; raising it sends only large changes. Measured on the shared clips (32x32,
      ``pixel_delta`` 16): quiet stretches stay at or below 0.013, a small camera shake on
      ``indoor_bottles`` reaches 0.037, people and hands entering give 0.02-0.4. The default 0.04
      sits above the shake; the small changes it misses grow past it within a second or two, and
      detection-based policies cover small objects (players on a 4K pitch stay below 0.004).
    * ``pixel_delta``: lowering it counts fainter changes, at the cost of reacting to sensor noise.
    * ``compare_with_last``: more recent kept frames make repeats rarer but a scene that really
      returns to an earlier look is sent only as a heartbeat.
    * ``priority``: of the smallest change; it grows with the changed share up to 1
      (``priority + (1 - priority) * share``). Below a new track's, so under a tight budget
      frames that introduce objects win over frames where known ones moved.

    With no kept frame yet there is nothing to compare with and the policy abstains (the interval
    policy keeps the first frame).
    """

    def __init__(self, threshold: float = 0.04, pixel_delta: int = 16, compare_with_last: int = 4, priority: float = 0.4):
        if not (math.isfinite(threshold) and 0 <= threshold < 1):
            raise SettingError("threshold", threshold, "a fraction of the picture in [0, 1)")
        if not 0 <= pixel_delta < 255:
            raise SettingError("pixel_delta", pixel_delta, "a gray-level difference in [0, 255)")
        if not 1 <= compare_with_last <= HISTORY_LENGTH:
            raise SettingError("compare_with_last", compare_with_last, f"1..{HISTORY_LENGTH} kept frames")
        if not 0 <= priority <= 1:
            raise SettingError("priority", priority, "a priority in [0, 1]")
        self.threshold = float(threshold)
        self.pixel_delta = int(pixel_delta)
        self.compare_with_last = int(compare_with_last)
        self.priority = float(priority)
        self._stacked: tuple[tuple[int, int], np.ndarray | None] = ((0, -1), None)

    def distance(self, candidate: Candidate, history: KeptHistory) -> float | None:
        """Smallest changed fraction against the recent kept frames (None with no kept frame)."""
        if not len(history):
            return None
        if self._stacked[0] != (id(history), history.total):  # the kept thumbnails change only on a keep
            recent = history.recent(self.compare_with_last)
            self._stacked = ((id(history), history.total), np.stack([kept.thumbnail for kept in recent]))
        return float(changed_fractions(candidate.thumbnail, self._stacked[1], self.pixel_delta).min())

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        distance = self.distance(candidate, history)
        if distance is None:
            return ABSTAIN
        signals = (("scene_change", distance),)
        if distance <= self.threshold:
            return Vote.abstain(signals)
        return Vote.keep("scene_change", self.priority + (1 - self.priority) * distance, signals)

    def __repr__(self) -> str:
        return (
            f"SceneChangePolicy(threshold={self.threshold}, pixel_delta={self.pixel_delta}, "
            f"compare_with_last={self.compare_with_last})"
        )


class NoveltyPolicy:
    """Keep a frame that looks unlike every kept frame in the history (reason ``novel``).

    The look is the 64-bit DCT perceptual hash of the thumbnail (:func:`edge.contract.phash.phash64`:
    low frequencies, insensitive to noise, compression and uniform brightness changes). The
    frame is novel when its hash differs in at least ``min_distance_bits`` bits from each of the
    last ``compare_with_last`` kept frames.

    * ``min_distance_bits`` (1..64): two unrelated pictures differ in about 32 bits, consecutive
      frames of a static camera in 0-6. Lowering it makes ordinary movement count as novel (and
      raises its priority above scene changes); raising it keeps the reason for new views only.
    * ``compare_with_last``: a longer memory (up to the history's 64) keeps a view that comes
      back (a patrol, day and night) from counting as novel each time.
    * ``priority``: above a scene change's, so a new view wins a tight budget.
    """

    def __init__(self, min_distance_bits: int = 14, compare_with_last: int = HISTORY_LENGTH, priority: float = 0.75):
        if isinstance(min_distance_bits, bool) or not isinstance(min_distance_bits, int) or not 1 <= min_distance_bits <= 64:
            raise SettingError("min_distance_bits", min_distance_bits, "an integer number of bits in 1..64")
        if not 1 <= compare_with_last <= HISTORY_LENGTH:
            raise SettingError("compare_with_last", compare_with_last, f"1..{HISTORY_LENGTH} kept frames")
        if not 0 <= priority <= 1:
            raise SettingError("priority", priority, "a priority in [0, 1]")
        self.min_distance_bits = min_distance_bits
        self.compare_with_last = int(compare_with_last)
        self.priority = float(priority)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        recent = history.recent(self.compare_with_last)
        if not recent:
            return ABSTAIN
        phash = candidate.phash
        distance = min(hamming(phash, kept.phash) for kept in recent)
        signals = (("novelty_bits", float(distance)),)
        if distance < self.min_distance_bits:
            return Vote.abstain(signals)
        return Vote.keep("novel", self.priority, signals)

    def __repr__(self) -> str:
        return f"NoveltyPolicy(min_distance_bits={self.min_distance_bits}, compare_with_last={self.compare_with_last})"
