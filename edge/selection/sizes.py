"""Where in the picture objects show their best view: a map the coverage selector learns from past tracks.

A track's best view is usually its largest box, and that often comes late: a car driving towards
the camera is largest as it leaves the picture, a pedestrian walking up the street grows with
every step. A selector that only compares a box with the largest box its track has shown *so far*
thinks every approaching object is at its best all the time, and keeps small, distant views.

The perspective of a fixed camera answers the question before the track does: objects at the
bottom of a road scene are near and large, objects at the horizon far and small. Each track
that ends teaches the map, per cell of a coarse grid over the picture, the share of its own
largest area it showed in that cell (its mean box area there over its largest anywhere; the
mean rather than the largest there, which rates distant cars above the views a frame usually
catches of them).
:attr:`SizeMap.expected` then says how large, against its eventual best, a box in that cell
usually is; the selector rates a view by the lower of that and the box's area over the
track's largest so far. Cells without experience start at 1 (no discount: the behaviour of a
selector without the map) and move towards what ended tracks showed.

Memory is fixed (two floats per cell); the map follows a changing scene (a camera moved, a lane
closed) by letting each cell count at most ``memory`` tracks, older ones fading out.
"""

from __future__ import annotations

GRID = (8, 6)
"""Cells (columns, rows) of the map: coarse enough to learn from a few dozen tracks. A box's cell
is ``row * columns + column`` of its centre (:func:`edge.selection.views.view_factors`)."""

PRIOR_TRACKS = 1.0
"""How many tracks' worth of "1" (no discount) a cell starts with: one pseudo-track, so the first
real tracks move a cell most of the way (at 2, the far cells of the highway clip, crossed by
few tracks, rated distant cars well above the share of their best they really showed)."""

MIN_TRACK_FRAMES = 10
"""Tracks seen on fewer frames teach nothing: too short to have shown their best."""


class SizeMap:
    """Per cell, the mean share of their largest area that ended tracks showed there (see the module docstring)."""

    def __init__(self, grid: tuple[int, int] = GRID, memory: float = 200.0):
        self.grid = grid
        self.memory = float(memory)
        cells = grid[0] * grid[1]
        self._sums = [PRIOR_TRACKS] * cells
        self._counts = [PRIOR_TRACKS] * cells
        self.expected = [1.0] * cells
        """Per cell, how large a box there usually is against its track's largest, in (0, 1]
        (a list: the selector reads it for every box of every held frame)."""

    def learn(self, mean_area_per_cell: dict[int, float], largest: float) -> None:
        """One ended track: its mean box area in each cell it crossed, and its largest anywhere."""
        if largest <= 0:
            return
        for cell, area in mean_area_per_cell.items():
            if self._counts[cell] >= self.memory:  # older tracks fade: the scene may have changed
                scale = (self.memory - 1.0) / self._counts[cell]
                self._sums[cell] *= scale
                self._counts[cell] *= scale
            self._sums[cell] += min(1.0, area / largest)
            self._counts[cell] += 1.0
            self.expected[cell] = self._sums[cell] / self._counts[cell]
