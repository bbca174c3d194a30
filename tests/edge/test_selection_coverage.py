"""The coverage selector against uniform sampling on the shared clips, and its look-ahead's bounds.

Per clip, one pass decodes the frames, runs the real detector (YOLOX-Nano) and our tracker, and
feeds the same boxes to one selector per budget (the default, and 1 %, 2 %, 5 % of the clip's
frames). To keep the module near a minute on a busy machine, the two long clips (pets09, 795
frames; the highway, 748) run the detector on every 2nd frame, the tracker predicting between
(``detect_every`` = 2, as an agent may); TUD-Campus and the parking lot run it on every frame.
Reference tracks: the ground truth of TUD-Campus; elsewhere the tracker's ids from that same pass,
kept when seen on 10 frames or more. Uniform sampling gets as many frames as the selector kept and
is scored over 10 phases of its grid.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge.config import SelectionConfig
from edge.contract.motfile import read_mot_file
from edge.detection.runner import Detector
from edge.evaluation.keyframes import coverage, long_tracks, median_best_view, uniform_scores
from edge.frame_detections import Detections
from edge.selection import build_selector
from edge.selection.coverage import CoverageSelector
from edge.sources import Frame, open_source
from edge.tracking import ByteTracker, StridedTracker
from tests.conftest import DATA_DIR, MODEL_PATH

TUD = DATA_DIR / "mot" / "TUD-Campus"
CLIPS = {  # name -> (source, image fps for a directory, detect_every)
    "tud": (TUD / "img1", 25.0, 1),
    "parking": (DATA_DIR / "videos" / "parking_lot_overhead_cars_intel.mp4", None, 1),
    "highway": (DATA_DIR / "videos" / "highway_cam_traffic_bgslibrary_video02.avi", None, 2),
    "pets09": (DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4", None, 2),
}
BUDGETS = ("default", "1%", "2%", "5%")
MIN_TRACK_FRAMES = 10


def budget_config(label: str, frames: int, duration_s: float) -> SelectionConfig:
    """The default settings, or a frames budget allowing at most that share of the clip (the bucket starts with one)."""
    base = SelectionConfig()
    if label == "default":
        return base
    allowed = float(label.rstrip("%")) / 100 * frames
    per_minute = max(allowed - 1.0, 1e-3) / duration_s * 60.0
    return replace(base, budget=replace(base.budget, keyframes_per_minute=per_minute))


def areas(detections: Detections) -> dict[int, float]:
    sizes = (detections.xyxy[:, 2] - detections.xyxy[:, 0]) * (detections.xyxy[:, 3] - detections.xyxy[:, 1])
    return {int(t): float(a) for t, a in zip(detections.tracker_id, sizes) if t >= 0}


@pytest.fixture(scope="module")
def detector():
    return Detector(MODEL_PATH, threads=2)


@pytest.fixture(scope="module")
def runs(detector):
    """Clip name -> (kept positions per budget, reference tracks per frame, selectors, every track id
    the tracker gave); one detector pass per clip."""
    results = {}
    for name, (path, fps, detect_every) in CLIPS.items():
        with open_source(str(path), image_fps=fps) if fps else open_source(str(path)) as source:
            tracking = StridedTracker(ByteTracker(), detect_every)
            count = source.reported_frames if hasattr(source, "reported_frames") else len(source.paths)
            duration = count / (fps or source.fps)
            selectors = {label: build_selector(budget_config(label, count, duration)) for label in BUDGETS}
            kept = {label: [] for label in BUDGETS}
            tracked, positions = [], {}
            for position, frame in enumerate(source):
                positions[frame.index] = position
                found = detector.detect(frame.image) if tracking.needs_detection(frame) else None
                update = tracking.step(frame, found)
                tracked.append(areas(update.detections))
                for label, selector in selectors.items():
                    decision = selector.consider(frame, update.detections, update.events)
                    kept[label] += [positions[r.frame.index] for r in decision.released]
            for label, selector in selectors.items():
                kept[label] += [positions[r.frame.index] for r in selector.flush()]
        if name == "tud":
            truth = read_mot_file(TUD / "gt" / "gt.txt")
            reference = [{} for _ in tracked]
            for frame_number, track, (_, _, w, h) in zip(truth.frame, truth.track_id, truth.tlwh):
                reference[int(frame_number) - 1][int(track)] = float(w * h)
        else:
            reference = long_tracks(tracked, MIN_TRACK_FRAMES)
        results[name] = (kept, reference, selectors, set().union(*tracked))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("clip", list(CLIPS))
def test_the_selector_covers_at_least_what_uniform_sampling_covers(runs, clip, budget):
    kept, reference, _, _ = runs[clip]
    positions = kept[budget]
    assert positions == sorted(set(positions))  # released in frame order, each once
    assert positions, "the selector kept nothing"
    uniform, _ = uniform_scores(len(positions), reference)
    assert coverage(positions, reference) >= uniform


@pytest.mark.slow
@pytest.mark.parametrize("clip, budget", [("pets09", "default"), ("pets09", "5%"), ("highway", "5%")])
def test_covered_objects_are_shown_near_their_best_view(runs, clip, budget):
    # The highway at the default budget keeps 6 frames for about 50 tracks: its median moves by a tenth
    # with one frame. With the detector on every frame (tests/bench/bench_selection.py) it is
    # above 0.6; with the detector on every 2nd frame, as here, 0.55. The benchmark reports it.
    kept, reference, _, _ = runs[clip]
    positions = kept[budget]
    ours = median_best_view(positions, reference)
    _, uniform = uniform_scores(len(positions), reference)
    assert ours >= 0.6 and ours > uniform


@pytest.mark.slow
@pytest.mark.parametrize("clip", list(CLIPS))
def test_every_track_is_either_captured_or_counted_as_missed(runs, clip):
    _, _, selectors, track_ids = runs[clip]
    for selector in selectors.values():
        counts = selector.counts
        assert counts.missed_tracks + counts.captured_tracks == len(track_ids)
    # The tightest budget on the busy road lets objects through, and says so.
    if clip == "highway":
        assert selectors["1%"].counts.missed_tracks > 0


# --- the look-ahead's bounds on a long synthetic stream --------------------------------------------


def synthetic_stream(seconds: float, fps: float, seed: int = 7):
    """Frames of textured noise (a different picture each frame: never frozen) with tracked boxes:
    an object enters every 0.7 s on average, crosses the picture in 2-8 s and leaves."""
    rng = np.random.default_rng(seed)
    pictures = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(16)]
    objects = []  # (track id, start s, duration s, y)
    next_id, t = 1, 0.0
    while t < seconds:
        objects.append((next_id, t, rng.uniform(2, 8), rng.uniform(4, 36)))
        next_id += 1
        t += rng.exponential(0.7)
    for index in range(int(seconds * fps)):
        ts = index / fps
        boxes = []
        for track_id, start, duration, y in objects:
            if start <= ts < start + duration:
                x = (ts - start) / duration * 70 - 6
                size = 6 + 6 * (ts - start) / duration  # approaching: larger as it goes
                boxes.append(([max(0.0, x), y, min(64.0, x + size), min(48.0, y + size)], track_id))
        xyxy = [b for b, _ in boxes]
        detections = Detections.from_arrays(xyxy, [0.8] * len(boxes), [0] * len(boxes), [i for _, i in boxes])
        yield Frame(index, ts, 0.0, pictures[index % len(pictures)]), detections, {i for _, i in boxes}


@pytest.mark.parametrize("max_held_megabytes", [64.0, 0.03])
def test_the_lookahead_stays_bounded_and_releases_within_its_latency_on_a_10_minute_stream(max_held_megabytes):
    # 0.03 MB holds three of these 64x48 frames (9,216 bytes each): the bound in bytes binds before max_held.
    fps = 10.0
    config = SelectionConfig()
    config = replace(config, coverage=replace(config.coverage, max_held_megabytes=max_held_megabytes))
    selector = build_selector(config)
    assert isinstance(selector, CoverageSelector)
    frame_bytes = 64 * 48 * 3
    bound = min(selector.max_held, max(1, int(max_held_megabytes * 1e6) // frame_bytes))
    seen, released, most_held, most_bytes = set(), [], 0, 0
    for frame, detections, ids in synthetic_stream(600.0, fps):
        seen |= ids
        decision = selector.consider(frame, detections)
        most_held = max(most_held, len(selector.held))
        most_bytes = max(most_bytes, selector.held_bytes)
        released += [(r.frame.source_ts, frame.source_ts) for r in decision.released]
    released += [(r.frame.source_ts, r.frame.source_ts) for r in selector.flush()]
    assert most_held == bound and selector.counts.held_peak == most_held
    assert most_bytes <= max_held_megabytes * 1e6 and selector.counts.held_bytes_peak == most_bytes
    # Live latency, in source time: every kept frame left the buffer within the look-ahead of its arrival.
    assert released and max(at - ts for ts, at in released) <= selector.lookahead_s
    assert selector.counts.waited_s_max <= selector.lookahead_s
    stamps = [ts for ts, _ in released]
    assert stamps == sorted(stamps)
    # The budget (12 a minute, 30 s of burst) binds, so objects are missed and counted.
    assert len(released) <= 12 * 10 + 6
    counts = selector.counts
    assert counts.missed_tracks > 0 and counts.captured_tracks + counts.missed_tracks == len(seen)
