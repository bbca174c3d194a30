"""Train/val splits of the YOLO export.

:func:`split_by_track_and_time` never puts one object in both splits. Frames that share a track
(same device and track id) are joined into one group, transitively, so a track and everything it
overlaps stays on one side. Groups are ordered by their first capture time, and the latest groups
go to ``val`` until it holds ``val_fraction`` of the frames (a group that would make ``val`` bigger
than half the frames is skipped): a split by time, which also keeps the near-identical neighbours
of an untracked frame together with it as far as time allows. Deterministic: ties break on frame id.

When one group holds every frame (a single continuous clip whose tracks chain from start to end)
no such split exists. :func:`split_by_time` then takes the latest frames for ``val``: later in
the clip, not the training frames themselves, though the tracks at the cut are in both.
:func:`split_held_out` puts the frames of a chosen device or time range in ``val``
(``--val-from``), so a team can hold out a whole camera or day.
"""

from __future__ import annotations

from server.exports.filter import ExportFrame
from server.exports.options import HeldOut


def split_by_track_and_time(frames: tuple[ExportFrame, ...], val_fraction: float) -> dict[int, str]:
    """``{frame_id: "train" | "val"}``; ``val`` stays empty when one group holds every frame."""
    parent = list(range(len(frames)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_track: dict[tuple[str, int], int] = {}
    for index, frame in enumerate(frames):
        for box in frame.boxes:
            if box.track_id is None:
                continue
            other = first_with_track.setdefault((frame.device, box.track_id), index)
            parent[root(index)] = root(other)
    groups: dict[int, list[int]] = {}
    for index in range(len(frames)):
        groups.setdefault(root(index), []).append(index)
    ordered = sorted(groups.values(),
                     key=lambda members: min((frames[i].capture_ts, frames[i].frame_id) for i in members))
    wanted_val = round(val_fraction * len(frames))
    split = {frame.frame_id: "train" for frame in frames}
    in_val = 0
    for members in reversed(ordered):
        if in_val >= wanted_val:
            break
        if in_val + len(members) > max(wanted_val, len(frames) // 2):
            continue  # a group this big would swallow the training set; an older, smaller one fits
        for i in members:
            split[frames[i].frame_id] = "val"
        in_val += len(members)
    return split


def split_by_time(frames: tuple[ExportFrame, ...], val_fraction: float) -> dict[int, str]:
    """The latest ``val_fraction`` of the frames (at least one, if there are two) in ``val``, the rest in ``train``."""
    ordered = sorted(frames, key=lambda frame: (frame.capture_ts, frame.frame_id))
    wanted_val = min(max(round(val_fraction * len(frames)), 1), len(frames) - 1) if val_fraction > 0 else 0
    latest = {frame.frame_id for frame in ordered[len(ordered) - wanted_val:]} if wanted_val else set()
    return {frame.frame_id: "val" if frame.frame_id in latest else "train" for frame in frames}


def split_held_out(frames: tuple[ExportFrame, ...], held_out: HeldOut) -> dict[int, str]:
    return {frame.frame_id: "val" if held_out.holds(frame) else "train" for frame in frames}


def shared_tracks(frames: tuple[ExportFrame, ...], split: dict[int, str]) -> int:
    """How many (device, track id) pairs have boxes in both ``train`` and ``val``."""
    sides: dict[tuple[str, int], set[str]] = {}
    for frame in frames:
        for box in frame.boxes:
            if box.track_id is not None:
                sides.setdefault((frame.device, box.track_id), set()).add(split[frame.frame_id])
    return sum(len(parts) > 1 for parts in sides.values())
