"""Benchmark: track coverage of the keyframe selector at a budget, against uniform sampling, and its cost.

Coverage is the share of distinct tracks that appear in at least one kept frame:
  * TUD-Campus (71 frames at 25 fps, 640x480): the ground-truth tracks of ``gt/gt.txt``;
  * pets09 (795 frames at 10 fps, 480x360): reference tracks from YOLOX-Nano and our ByteTracker
    on every frame, at the agent's defaults (score >= 0.3), i.e. the ids the device itself sees.
The selector runs as the agent does (detector on every frame, tracker, full default selector),
with its default budget and with budgets of 2 % and 5 % of the clip's frames: a frame rate such
that the bucket (which starts with one frame) allows at most that share over the clip. Uniform
sampling gets the same number of frames the selector kept; its coverage is the mean over 10
phases of the sampling grid. Target: at least uniform's coverage everywhere, and 10 points more
at 2 % and 5 % on pets09.

Cost: median microseconds of ``KeyframeSelector.consider`` per frame at the clip's resolution
(default settings, budget included), against the median time of one ``Detector.detect``
(1 thread) on the same frames in the same run. Target: under 5 %.

    python tests/bench/bench_selection.py

Not a test: it prints a table and one JSON line.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
PETS09 = SHARED / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
TUD = SHARED / "data" / "mot" / "TUD-Campus"
UNIFORM_PHASES = 10


def detect_and_track(frames, detector):
    """Per frame: the tracker's output (boxes with ids, events), and the detector's time."""
    from edge.tracking import ByteTracker, StridedTracker

    tracking = StridedTracker(ByteTracker(), 1)
    updates, seconds = [], []
    for frame in frames:
        started = time.perf_counter()
        found = detector.detect(frame.image)
        seconds.append(time.perf_counter() - started)
        updates.append(tracking.step(frame, found))
    return updates, seconds


def select(frames, updates, config):
    from edge.selection import build_selector

    selector = build_selector(config)
    kept, seconds = [], []
    for frame, update in zip(frames, updates):
        started = time.perf_counter()
        decision = selector.consider(frame, update.detections, update.events)
        seconds.append(time.perf_counter() - started)
        if decision.keep:
            kept.append(frame.index)
    return kept, seconds, selector


def coverage(indices, tracks_by_frame, all_tracks) -> float:
    shown = set().union(*(tracks_by_frame[i] for i in indices)) if indices else set()
    return len(shown & all_tracks) / len(all_tracks)


def uniform_coverage(count, tracks_by_frame, all_tracks) -> float:
    n = len(tracks_by_frame)
    if count == 0:
        return 0.0
    step = n / count
    values = [coverage([min(n - 1, int((k + phase) * step)) for k in range(count)], tracks_by_frame, all_tracks)
              for phase in np.arange(UNIFORM_PHASES) / UNIFORM_PHASES]
    return float(np.mean(values))


def budget_config(base, share, frames, duration_s):
    """A budget allowing at most ``share`` of the clip's frames (the bucket starts with one)."""
    allowed = share * frames
    rate_per_minute = max(allowed - 1.0, 0.0) / duration_s * 60.0
    return replace(base, budget=replace(base.budget, keyframes_per_minute=max(rate_per_minute, 1e-6)))


def main() -> int:
    from edge.config import SelectionConfig
    from edge.contract.motfile import read_mot_file
    from edge.detection.runner import Detector
    from edge.sources import open_source

    detector = Detector(MODEL, threads=1)
    clips = []
    tud_frames = list(open_source(str(TUD / "img1"), image_fps=25.0))
    gt = read_mot_file(TUD / "gt" / "gt.txt")
    tud_tracks = [set() for _ in tud_frames]
    for frame, track in zip(gt.frame, gt.track_id):
        tud_tracks[int(frame) - 1].add(int(track))
    clips.append(("TUD-Campus (ground truth)", tud_frames, 25.0, tud_tracks))
    pets_frames = list(open_source(str(PETS09)))
    clips.append(("pets09 (reference tracks)", pets_frames, 10.0, None))

    rows, costs = [], []
    base = SelectionConfig()
    for name, frames, fps, tracks_by_frame in clips:
        updates, detect_seconds = detect_and_track(frames, detector)
        if tracks_by_frame is None:  # reference: the tracker's confirmed ids on every frame
            tracks_by_frame = [{int(t) for t in u.detections.tracker_id if t >= 0} for u in updates]
        all_tracks = set().union(*tracks_by_frame)
        duration_s = len(frames) / fps
        for label, config in (("default", base), ("2%", budget_config(base, 0.02, len(frames), duration_s)),
                              ("5%", budget_config(base, 0.05, len(frames), duration_s))):
            kept, select_seconds, selector = select(frames, updates, config)
            ours = coverage(kept, tracks_by_frame, all_tracks)
            uniform = uniform_coverage(len(kept), tracks_by_frame, all_tracks)
            rows.append({"clip": name, "budget": label, "tracks": len(all_tracks), "frames": len(frames),
                         "kept": len(kept), "kept_share": round(len(kept) / len(frames), 4),
                         "selector": round(ours, 3), "uniform": round(uniform, 3),
                         "points_over_uniform": round(100 * (ours - uniform), 1)})
            if label == "default":
                height, width = frames[0].image.shape[:2]
                selector_us = statistics.median(select_seconds) * 1e6
                detector_us = statistics.median(detect_seconds) * 1e6
                costs.append({"clip": name, "resolution": f"{width}x{height}", "selector_us_median": round(selector_us),
                              "selector_us_p90": round(float(np.percentile(select_seconds, 90)) * 1e6),
                              "detector_us_median": round(detector_us),
                              "selector_over_detector": round(selector_us / detector_us, 4),
                              "jpeg_encodes": selector.budget.encodes if selector.budget else 0})

    print(f"{'clip':<28} {'budget':>7} {'tracks':>6} {'kept':>5} {'share':>6} {'selector':>8} {'uniform':>8} {'+points':>8}")
    for r in rows:
        print(f"{r['clip']:<28} {r['budget']:>7} {r['tracks']:>6} {r['kept']:>5} {r['kept_share']:>6.3f} "
              f"{r['selector']:>8.3f} {r['uniform']:>8.3f} {r['points_over_uniform']:>8.1f}")
    print()
    print(f"{'clip':<28} {'resolution':>10} {'selector us':>12} {'p90 us':>7} {'detector us':>12} {'ratio':>7}")
    for c in costs:
        print(f"{c['clip']:<28} {c['resolution']:>10} {c['selector_us_median']:>12} {c['selector_us_p90']:>7} "
              f"{c['detector_us_median']:>12} {c['selector_over_detector']:>7.2%}")
    print(json.dumps({"coverage": rows, "cost": costs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
