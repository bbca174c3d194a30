"""The timeline plot of a sample run: the selector's signals over time, and what it decided.

Needs matplotlib (``pip install 'edgelabel[report]'``), which the device itself never needs;
:func:`require_matplotlib` says so in one line before a long run starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge.contract.errors import AgentError

PANELS = (
    ("picture", (("scene_change", "changed share vs kept"), ("novelty", "pHash distance / 64"))),
    ("quality", (("relative_sharpness", "sharpness / scene level"), ("brightness", "brightness / 255"),
                 ("covered_fraction", "covered share"))),
    ("objects", (("objects", "objects"), ("new_tracks", "new tracks"), ("uncertain_boxes", "uncertain boxes"),
                 ("value", "coverage value"), ("held", "frames held"), ("missed_tracks", "missed tracks"))),
    ("budget", (("budget_frames_fill", "frames bucket fill"), ("budget_bytes_fill", "bytes bucket fill"))),
)
"""Panels of the plot: (title, ((signal, label), ...)). Signals a run did not measure are left out."""

SCALES = {"novelty": ("novelty_bits", 1 / 64), "brightness": ("brightness", 1 / 255)}
"""Plotted names that are a scaled signal: name -> (signal, factor)."""


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise AgentError("the timeline plot needs matplotlib: pip install 'edgelabel[report]'") from None


def plot_timeline(rows: Sequence[dict], thresholds: dict[str, float], path: Path, title: str) -> None:
    """Write a PNG of ``rows`` (one per frame: ``source_ts``, ``keep``, ``reasons``, ``rejected_for``,
    ``vetoed_by``, ``signals``); ``thresholds`` draws a dashed line on the signal of that name."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [row["source_ts"] for row in rows]
    figure, axes = plt.subplots(len(PANELS) + 1, 1, sharex=True, figsize=(13, 11),
                                gridspec_kw={"height_ratios": [3, 3, 3, 2, 2]})
    for axis, (panel, series) in zip(axes, PANELS):
        plotted = False  # a signal may be measured on no frame (scene change where objects are tracked)
        for name, label in series:
            signal, factor = SCALES.get(name, (name, 1.0))
            values = [row["signals"].get(signal) for row in rows]
            if all(v is None for v in values):
                continue
            plotted = True
            line = axis.plot(times, [None if v is None else v * factor for v in values], lw=0.9, label=label)[0]
            if signal in thresholds:
                axis.axhline(thresholds[signal] * factor, color=line.get_color(), ls="--", lw=0.8)
        for row in rows:
            if row["keep"]:
                axis.axvline(row["source_ts"], color="tab:green", alpha=0.25, lw=1.0)
        axis.set_ylabel(panel)
        if plotted:
            axis.legend(loc="upper right", fontsize=7, ncol=3)
    _decisions(axes[-1], rows)
    axes[-1].set_xlabel("source time (s)")
    axes[0].set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _decisions(axis, rows: Sequence[dict]) -> None:
    """One row of marks per outcome: kept (by first reason), vetoed (by what), rejected (by flaw)."""
    lanes: dict[str, list[float]] = {}
    for row in rows:
        if row["keep"]:
            lanes.setdefault("kept: " + row["reasons"][0], []).append(row["source_ts"])
        for veto in row["vetoed_by"]:
            lanes.setdefault("overruled: " + veto, []).append(row["source_ts"])
        for flaw in row["rejected_for"]:
            lanes.setdefault("rejected: " + flaw, []).append(row["source_ts"])
    names = sorted(lanes)
    for lane, name in enumerate(names):
        color = "tab:green" if name.startswith("kept") else "tab:red" if name.startswith("rejected") else "tab:gray"
        axis.plot(lanes[name], [lane] * len(lanes[name]), "|", color=color, ms=8)
    axis.set_yticks(range(len(names)), names, fontsize=7)
    axis.set_ylim(-0.7, max(len(names), 1) - 0.3)
