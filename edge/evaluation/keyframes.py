"""Scoring a set of kept frames against reference tracks: coverage and how good the views are.

Reference tracks are, per frame, the boxes of each track visible in it (ground truth, or a
tracker's output on every frame). A track is *covered* when at least one kept frame shows it; its
*best-view ratio* is the largest box area it has in a kept frame over its largest area anywhere.
Uniform sampling of the same number of frames is the baseline every selector must beat; it is
scored over several phases of its grid (a fixed phase can be lucky or unlucky).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from statistics import median

import numpy as np

TrackAreas = Sequence[Mapping[int, float]]
"""Per frame (list position = frame position in the clip): track id -> box area in pixels."""

UNIFORM_PHASES = 10


def long_tracks(per_frame: TrackAreas, min_frames: int) -> TrackAreas:
    """``per_frame`` without the tracks seen on fewer than ``min_frames`` frames."""
    seen = defaultdict(int)
    for areas in per_frame:
        for track_id in areas:
            seen[track_id] += 1
    keep = {t for t, n in seen.items() if n >= min_frames}
    return [{t: a for t, a in areas.items() if t in keep} for areas in per_frame]


def all_tracks(per_frame: TrackAreas) -> set[int]:
    return set().union(*(areas.keys() for areas in per_frame)) if per_frame else set()


def covered(positions: Iterable[int], per_frame: TrackAreas) -> set[int]:
    """Tracks shown by at least one of the frames at ``positions``."""
    return set().union(set(), *(per_frame[p].keys() for p in positions))


def coverage(positions: Iterable[int], per_frame: TrackAreas) -> float:
    """Share of the reference tracks shown by the frames at ``positions`` (1.0 without tracks)."""
    tracks = all_tracks(per_frame)
    return len(covered(positions, per_frame) & tracks) / len(tracks) if tracks else 1.0


def best_view_ratios(positions: Iterable[int], per_frame: TrackAreas) -> list[float]:
    """Per covered track: its largest area among the kept frames over its largest area anywhere."""
    largest: dict[int, float] = defaultdict(float)
    for areas in per_frame:
        for track_id, area in areas.items():
            largest[track_id] = max(largest[track_id], area)
    kept: dict[int, float] = defaultdict(float)
    for position in positions:
        for track_id, area in per_frame[position].items():
            kept[track_id] = max(kept[track_id], area)
    return [kept[t] / largest[t] for t in kept if largest[t] > 0]


def median_best_view(positions: Iterable[int], per_frame: TrackAreas) -> float:
    ratios = best_view_ratios(positions, per_frame)
    return float(median(ratios)) if ratios else 0.0


def uniform_positions(count: int, frames: int, phase: float) -> list[int]:
    """``count`` frames evenly spaced over ``frames``, the grid shifted by ``phase`` (0..1) of a step."""
    if count <= 0:
        return []
    step = frames / count
    return sorted({min(frames - 1, int((k + phase) * step)) for k in range(count)})


def uniform_scores(count: int, per_frame: TrackAreas, phases: int = UNIFORM_PHASES) -> tuple[float, float]:
    """Uniform sampling of ``count`` frames: (mean coverage, mean median best-view ratio) over phases."""
    grids = [uniform_positions(count, len(per_frame), phase) for phase in np.arange(phases) / phases]
    return (float(np.mean([coverage(g, per_frame) for g in grids])),
            float(np.mean([median_best_view(g, per_frame) for g in grids])))
