"""Train/val split that never puts one object in both splits.

Frames that share a track (same device and track id) are joined into one group, transitively,
so a track and everything it overlaps stays on one side. Groups are ordered by their first
capture time, and the latest groups go to ``val`` until it holds ``val_fraction`` of the frames (a group that would
make ``val`` bigger than half the frames is skipped):
a split by time, which also keeps the near-identical neighbours of an untracked frame together
with it as far as time allows. Deterministic: ties break on frame id.
"""

from __future__ import annotations

from server.exports.filter import ExportFrame


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
