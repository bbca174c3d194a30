"""Where in the picture objects show their best view: a map the coverage selector learns from past tracks.

A track's best view is usually its largest box, and that often comes late: a car driving towards
the camera is largest as it leaves the picture, a pedestrian walking up the street grows with
every step. A selector that only compares a box with the largest box its track has shown *so far*
thinks every approaching object is at its best all the time, and keeps small, distant views.

The perspective of a fixed camera answers the question before the track does: objects at the
bottom of a road scene are near and large, objects at the horizon far and small. Each track
that ends teaches the map, per cell of a coarse grid over the picture, the share of its own
largest area it showed in that cell (its largest box there over its largest box anywhere).
:meth:`SizeMap.expected` then says how large, against its eventual best, a box in that cell
usually is; the selector rates a view by the lower of that and the box's area over the
track's largest so far. Cells without experience start at 1 (no discount: the behaviour of a
selector without the map) and move towards what ended tracks showed.

Memory is fixed (two floats per cell); the map follows a changing scene (a camera moved, a lane
closed) by letting each cell count at most ``memory`` tracks, older ones fading out.
"""

from __future__ import annotations

import numpy as np

GRID = (8, 6)
"""Cells (columns, rows) of the map: coarse enough to learn from a few dozen tracks."""

PRIOR_TRACKS = 2.0
"""How many tracks' worth of "1" (no discount) a cell starts with: a single odd track does not
decide it."""

MIN_TRACK_FRAMES = 10
"""Tracks seen on fewer frames teach nothing: too short to have shown their best."""


def cell_of(xyxy: np.ndarray, width: int, height: int, grid: tuple[int, int] = GRID) -> np.ndarray:
    """Cell index (row * columns + column) of each box's centre, shape (N,)."""
    columns, rows = grid
    cx = (xyxy[:, 0] + xyxy[:, 2]) * (0.5 * columns / max(width, 1))
    cy = (xyxy[:, 1] + xyxy[:, 3]) * (0.5 * rows / max(height, 1))
    column = np.clip(cx.astype(np.int64), 0, columns - 1)
    row = np.clip(cy.astype(np.int64), 0, rows - 1)
    return row * columns + column


class SizeMap:
    """Per cell, the mean share of their largest area that ended tracks showed there (see the module docstring)."""

    def __init__(self, grid: tuple[int, int] = GRID, memory: float = 200.0):
        self.grid = grid
        self.memory = float(memory)
        cells = grid[0] * grid[1]
        self._sums = np.full(cells, PRIOR_TRACKS)
        self._counts = np.full(cells, PRIOR_TRACKS)

    def expected(self, cell: int) -> float:
        """How large a box in ``cell`` usually is against its track's largest, in (0, 1]."""
        return float(self._sums[cell] / self._counts[cell])

    def learn(self, largest_per_cell: dict[int, float], largest: float) -> None:
        """One ended track: its largest area in each cell it crossed, and its largest anywhere."""
        if largest <= 0:
            return
        for cell, area in largest_per_cell.items():
            if self._counts[cell] >= self.memory:  # older tracks fade: the scene may have changed
                scale = (self.memory - 1.0) / self._counts[cell]
                self._sums[cell] *= scale
                self._counts[cell] *= scale
            self._sums[cell] += min(1.0, area / largest)
            self._counts[cell] += 1.0
