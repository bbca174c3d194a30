"""Benchmark: track coverage and best views of the keyframe selector at a budget, against uniform
sampling and the previous selector, and the selector's cost.

Clips (every shared clip with motion) and their reference tracks:
  * TUD-Campus (71 frames at 25 fps, 640x480): the ground-truth tracks of ``gt/gt.txt``;
  * the parking lot (377 frames at 12.5 fps, 768x432), the highway (748 frames at 25 fps, 320x240)
    and pets09 (795 frames at 10 fps, 480x360): the ids of YOLOX-Nano and our ByteTracker on every
    frame at the agent's defaults, kept when seen on 10 frames or more.
Selectors, fed the same boxes (detector on every frame, tracker): the coverage selector (the
default, ``[selection.coverage]``) and the previous one (``[selection.coverage] enabled = false``:
each trigger keeps its frame at once), each at the default budget and at budgets of 1 %, 2 % and
5 % of the clip's frames (a frame rate such that the bucket, which starts with one frame, allows at
most that share over the clip). Uniform sampling gets as many frames as the selector kept, scored
over 10 phases of its grid.

Measures: coverage (share of reference tracks in a kept frame); the best-view ratio (median over
covered tracks of the largest box area in a kept frame over the track's largest area). Targets:
never below uniform, at least +5 points averaged over the clips and budgets.

Cost: median microseconds of ``consider`` per frame at the default budget (and the previous
selector's, whose policies it shares), against the median time of one ``Detector.detect`` (1 thread)
on the same frames in the same run. Target: under 5 %.

    python tests/bench/bench_selection.py [--clips tud,parking,highway,pets09] [--markdown FILE]

Not a test: it prints a table and one JSON line; ``--markdown`` also writes the tables as Markdown
(the README's "Keyframe selection" benchmark section is that file's content).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
DATA = SHARED / "data"
TUD = DATA / "mot" / "TUD-Campus"
CLIPS = {  # name -> (source, image fps for a directory)
    "tud": (TUD / "img1", 25.0),
    "parking": (DATA / "videos" / "parking_lot_overhead_cars_intel.mp4", None),
    "highway": (DATA / "videos" / "highway_cam_traffic_bgslibrary_video02.avi", None),
    "pets09": (DATA / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4", None),
}
BUDGETS = ("default", "1%", "2%", "5%")
MIN_TRACK_FRAMES = 10


def budget_config(base, label, frames, duration_s):
    if label == "default":
        return base
    allowed = float(label.rstrip("%")) / 100 * frames
    per_minute = max(allowed - 1.0, 1e-3) / duration_s * 60.0
    return replace(base, budget=replace(base.budget, keyframes_per_minute=per_minute))


def areas(detections) -> dict[int, float]:
    sizes = (detections.xyxy[:, 2] - detections.xyxy[:, 0]) * (detections.xyxy[:, 3] - detections.xyxy[:, 1])
    return {int(t): float(a) for t, a in zip(detections.tracker_id, sizes) if t >= 0}


def run_selector(selector, frames, updates):
    """Kept positions and the seconds of each ``consider`` (and the final flush)."""
    position_of = {frame.index: position for position, frame in enumerate(frames)}
    kept, seconds = [], []
    for frame, update in zip(frames, updates):
        started = time.perf_counter()
        decision = selector.consider(frame, update.detections, update.events)
        seconds.append(time.perf_counter() - started)
        kept += [position_of[r.frame.index] for r in decision.released]
        if decision.keep:
            kept.append(position_of[frame.index])
    kept += [position_of[r.frame.index] for r in getattr(selector, "flush", tuple)()]
    return sorted(kept), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated subset of " + ", ".join(CLIPS))
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown to this file")
    args = parser.parse_args()
    from edge.config import SelectionConfig
    from edge.contract.motfile import read_mot_file
    from edge.detection.runner import Detector
    from edge.evaluation.keyframes import coverage, long_tracks, median_best_view, uniform_scores
    from edge.selection import build_selector
    from edge.sources import open_source
    from edge.tracking import ByteTracker, StridedTracker

    detector = Detector(MODEL, threads=1)
    base = SelectionConfig()
    previous = replace(base, coverage=replace(base.coverage, enabled=False))
    rows, costs = [], []
    for name in args.clips.split(","):
        path, fps = CLIPS[name]
        source = open_source(str(path), image_fps=fps) if fps else open_source(str(path))
        frames = list(source)
        source.close()
        tracking = StridedTracker(ByteTracker(), 1)
        updates, detect_seconds = [], []
        for frame in frames:
            started = time.perf_counter()
            found = detector.detect(frame.image)
            detect_seconds.append(time.perf_counter() - started)
            updates.append(tracking.step(frame, found))
        if name == "tud":
            truth = read_mot_file(TUD / "gt" / "gt.txt")
            reference = [{} for _ in frames]
            for frame_number, track, (_, _, w, h) in zip(truth.frame, truth.track_id, truth.tlwh):
                reference[int(frame_number) - 1][int(track)] = float(w * h)
        else:
            reference = long_tracks([areas(u.detections) for u in updates], MIN_TRACK_FRAMES)
        tracks = len(set().union(*(r.keys() for r in reference)))
        duration_s = len(frames) / (fps or source.fps)
        for label in BUDGETS:
            ours, select_seconds = run_selector(build_selector(budget_config(base, label, len(frames), duration_s)),
                                                frames, updates)
            old, previous_seconds = run_selector(build_selector(budget_config(previous, label, len(frames), duration_s)),
                                                 frames, updates)
            uniform_cov, uniform_view = uniform_scores(len(ours), reference)
            old_uniform_cov, _ = uniform_scores(len(old), reference)
            row = {"clip": name, "budget": label, "tracks": tracks, "frames": len(frames),
                   "kept": len(ours), "coverage": round(coverage(ours, reference), 3),
                   "uniform": round(uniform_cov, 3), "best_view": round(median_best_view(ours, reference), 3),
                   "uniform_best_view": round(uniform_view, 3),
                   "previous_kept": len(old), "previous_coverage": round(coverage(old, reference), 3),
                   "previous_uniform": round(old_uniform_cov, 3),
                   "previous_best_view": round(median_best_view(old, reference), 3)}
            row["points_over_uniform"] = round(100 * (row["coverage"] - row["uniform"]), 1)
            rows.append(row)
            if label == "default":
                height, width = frames[0].image.shape[:2]
                selector_us = statistics.median(select_seconds) * 1e6
                detector_us = statistics.median(detect_seconds) * 1e6
                costs.append({"clip": name, "resolution": f"{width}x{height}", "selector_us_median": round(selector_us),
                              "selector_us_p90": round(float(np.percentile(select_seconds, 90)) * 1e6),
                              "selector_us_mean": round(statistics.fmean(select_seconds) * 1e6),
                              "previous_us_median": round(statistics.median(previous_seconds) * 1e6),
                              "detector_us_median": round(detector_us),
                              "selector_over_detector": round(selector_us / detector_us, 4)})

    print(f"{'clip':<8} {'budget':>7} {'tracks':>6} | {'kept':>4} {'cover':>6} {'unif':>6} {'+pts':>6} {'view':>5} "
          f"{'u.view':>6} | {'prev kept':>9} {'cover':>6} {'unif':>6} {'view':>5}")
    for r in rows:
        print(f"{r['clip']:<8} {r['budget']:>7} {r['tracks']:>6} | {r['kept']:>4} {r['coverage']:>6.3f} "
              f"{r['uniform']:>6.3f} {r['points_over_uniform']:>6.1f} {r['best_view']:>5.2f} {r['uniform_best_view']:>6.2f}"
              f" | {r['previous_kept']:>9} {r['previous_coverage']:>6.3f} {r['previous_uniform']:>6.3f}"
              f" {r['previous_best_view']:>5.2f}")
    mean_points = statistics.fmean(r["points_over_uniform"] for r in rows)
    print(f"mean points over uniform: {mean_points:.1f}; below uniform: "
          f"{sum(r['coverage'] < r['uniform'] for r in rows)} of {len(rows)}")
    print()
    print(f"{'clip':<8} {'resolution':>10} {'selector us':>12} {'p90 us':>7} {'mean us':>8} {'previous us':>12} "
          f"{'detector us':>12} {'ratio':>7}")
    for c in costs:
        print(f"{c['clip']:<8} {c['resolution']:>10} {c['selector_us_median']:>12} {c['selector_us_p90']:>7} "
              f"{c['selector_us_mean']:>8} {c['previous_us_median']:>12} {c['detector_us_median']:>12} "
              f"{c['selector_over_detector']:>7.2%}")
    print(json.dumps({"coverage": rows, "cost": costs, "mean_points_over_uniform": round(mean_points, 2)}))
    if args.markdown:
        args.markdown.write_text(markdown(rows, costs, mean_points))
    return 0


def markdown(rows, costs, mean_points) -> str:
    lines = ["| clip | budget | tracks | kept | coverage | uniform | points | best view | uniform's | "
             "previous: kept | coverage | uniform | best view |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['budget']} | {r['tracks']} | {r['kept']} | {r['coverage']:.3f} | "
                     f"{r['uniform']:.3f} | {r['points_over_uniform']:+.1f} | {r['best_view']:.2f} | "
                     f"{r['uniform_best_view']:.2f} | {r['previous_kept']} | {r['previous_coverage']:.3f} | "
                     f"{r['previous_uniform']:.3f} | {r['previous_best_view']:.2f} |")
    below = sum(r["coverage"] < r["uniform"] for r in rows)
    lines += ["", f"Mean points over uniform: {mean_points:+.1f}; below uniform: {below} of {len(rows)}.", "",
              "| clip | resolution | selector us (median) | p90 | mean | previous us | detector us | share |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in costs:
        lines.append(f"| {c['clip']} | {c['resolution']} | {c['selector_us_median']} | {c['selector_us_p90']} | "
                     f"{c['selector_us_mean']} | {c['previous_us_median']} | {c['detector_us_median']} | "
                     f"{c['selector_over_detector']:.2%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
