"""The knobs of duplicate detection, with what raising or lowering each one trades."""

from __future__ import annotations

import math
from dataclasses import dataclass

from server.errors import CollectorError

REPRESENTATIVE_RULES = ("sharpest", "most_confident")


class DedupConfigError(CollectorError):
    """A duplicate-detection setting out of its range."""


@dataclass(frozen=True)
class DedupPolicy:
    max_key_distance: int = 7
    """Hamming radius of the block-hash search that proposes candidates. Raising it finds copies
    that moved more (bigger crops), at the cost of slower lookups (buckets to visit: 68 at radius 7,
    188 at 8, about 1,100 at 12; measured at a million keys, radius 8 costs 1.4x radius 7) and more
    thumbnail checks; lowering it misses such copies (on the benchmark pairs, recall 0.969 at 8,
    0.966 at 7, 0.963 at 6)."""

    max_changed_area: float = 0.012
    """Largest share of the picture that may differ (after alignment) for two frames to count as
    the same. Raising it merges frames where a person moved a little (fewer frames to review, but
    labels that differ can be lost in a group); lowering it keeps more near-identical frames apart.
    Chosen on the shared clips for precision >= 0.99 (see tests/bench/bench_dedup.py)."""

    time_window_s: float = 3600.0
    """A frame is only compared with groups whose representative was captured within this many
    seconds of it. Raising it groups a static scene over a longer span (one frame of it per window
    reaches the queue); lowering it shows reviewers the same unchanged scene more often."""

    across_devices: bool = False
    """Also compare with other devices' frames (two cameras filming one scene, an imported copy).
    Exact copies (same bytes) are found across devices and times whatever this says."""

    max_candidates: int = 16
    """At most this many candidates (nearest by hash, then closest in time) get the thumbnail
    check. A fixed camera puts many frames within the hash radius; checking more of them finds a
    copy of an older frame more surely but costs about 0.3 ms each on the ingest thread."""

    representative: str = "sharpest"
    """Which frame of a group reaches the queue: ``sharpest`` (variance of the Laplacian) or
    ``most_confident`` (mean detection score). A better frame replaces a representative only
    while that one is still ``pending``: nobody's review is thrown away."""

    def __post_init__(self) -> None:
        if not 0 <= self.max_key_distance <= 64:
            raise DedupConfigError(f"max_key_distance: expected 0..64 bits, got {self.max_key_distance}")
        if not (math.isfinite(self.max_changed_area) and 0 <= self.max_changed_area < 1):
            raise DedupConfigError(f"max_changed_area: expected a share in [0, 1), got {self.max_changed_area}")
        if not (math.isfinite(self.time_window_s) and self.time_window_s > 0):
            raise DedupConfigError(f"time_window_s: expected seconds > 0, got {self.time_window_s}")
        if self.max_candidates < 1:
            raise DedupConfigError(f"max_candidates: expected at least 1, got {self.max_candidates}")
        if self.representative not in REPRESENTATIVE_RULES:
            raise DedupConfigError(f"representative: expected one of {', '.join(REPRESENTATIVE_RULES)}, got {self.representative!r}")
