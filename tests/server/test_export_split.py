"""The YOLO export's val split when no split keeps every track on one side, and --val-from."""

import pytest

from server.exports.errors import ExportError
from server.exports.filter import ExportBox, ExportFrame
from server.exports.options import HeldOut
from server.exports.split import shared_tracks, split_by_time, split_by_track_and_time, split_held_out


def clip(count: int, device: str = "cam", start: float = 1000.0) -> tuple[ExportFrame, ...]:
    """``count`` frames one second apart, each with track 1 and its own track: one chain of tracks."""
    return tuple(ExportFrame(frame_id=int(start) + i, device=device, seq=i, capture_ts=start + i, source_ts=i,
                             frame_index=i, width=64, height=48, model_id="m", status="accepted", verified=True,
                             boxes=(ExportBox((1, 1, 9, 9), "person", 1, None),
                                    ExportBox((2, 2, 8, 8), "car", 100 + i, None)),
                             image=None, stem=f"{device}-{i}", image_id=i)
                 for i in range(count))


def test_one_chain_of_tracks_has_no_track_preserving_split_so_val_is_the_latest_frames():
    frames = clip(10)
    assert set(split_by_track_and_time(frames, 0.2).values()) == {"train"}
    split = split_by_time(frames, 0.2)
    assert [split[frame.frame_id] for frame in frames] == ["train"] * 8 + ["val"] * 2
    assert shared_tracks(frames, split) == 1  # track 1; every other track lives in one frame


@pytest.mark.parametrize("count, fraction, val", [(2, 0.2, 1), (3, 0.01, 1), (5, 0.0, 0), (1, 0.5, 0), (0, 0.2, 0)])
def test_split_by_time_leaves_at_least_one_frame_on_each_side_when_it_can(count, fraction, val):
    split = split_by_time(clip(count), fraction)
    assert sum(part == "val" for part in split.values()) == val and len(split) == count


def test_held_out_device_or_time_range():
    frames = clip(4, "a") + clip(3, "b", start=2000.0)
    by_device = split_held_out(frames, HeldOut(device="b"))
    assert [by_device[f.frame_id] for f in frames] == ["train"] * 4 + ["val"] * 3
    by_time = split_held_out(frames, HeldOut(since=1002.0, until=2001.0))
    assert [by_time[f.frame_id] for f in frames] == ["train", "train", "val", "val", "val", "train", "train"]
    assert HeldOut(until=1001.0).describe() == "captured in ..1970-01-01T00:16:41Z"
    for bad in ({}, {"device": "a", "since": 1.0}, {"since": 5.0, "until": 5.0}):
        with pytest.raises(ExportError, match="--val-from"):
            HeldOut(**bad)
