"""Benchmark: our ByteTrack-style tracker against Roboflow's ``trackers`` on real ground truth.

Same run, same detections: YOLOX-Nano person boxes (score >= 0.1) of TUD-Campus (71 frames,
640x480, 8 annotated people) are computed once, then fed to
  * ours: ``edge.tracking.ByteTracker`` through ``StridedTracker`` (what the agent runs);
  * ``trackers.ByteTrackTracker``, ``OCSORTTracker``, ``BoTSORTTracker`` with their defaults at
    25 fps, without appearance features (and no frames, so BoT-SORT does no camera motion
    compensation; the camera is static anyway).
Each is scored with ``edge.evaluation.mot`` (TrackEval's numbers) for MOTA, IDF1, HOTA and ID
switches, with the detector on every frame and on every 2nd and 3rd frame. With a stride, the
peers are given the detected frames with their time stamps (their Kalman filters step over the
gap) and their last output is repeated on the frames between, as they have no prediction-only
call; ours predicts those frames. Only confirmed tracks count (the peers' id -1 boxes are left
out, as ours without an id are).

Update time: the median time of one ``update`` call on a detected frame, per tracker, taken
over ``--rounds`` interleaved rounds (the machine is shared: read the medians and the ratio to
the fastest peer, measured in the same run).

    python tests/bench/bench_tracking.py [--rounds 5] [--strides 1 2 3]

Needs ``pip install trackers``. Not a test: it prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SEQUENCE = SHARED / "data" / "mot" / "TUD-Campus"
MODEL = SHARED / "models" / "yolox_nano.onnx"
FPS = 25.0
SCORE_THRESHOLD = 0.1
PERSON = 0


def detect_once(frames) -> list:
    from edge.detection.runner import Detector

    detector = Detector(MODEL, score_threshold=SCORE_THRESHOLD, threads=1)
    detections = []
    for frame in frames:
        found = detector.detect(frame.image)
        detections.append(found[found.class_id == PERSON])
    return detections


def run_ours(frames, detections, stride):
    from edge.tracking import ByteTracker, StridedTracker

    tracking = StridedTracker(ByteTracker(), stride)
    outputs, seconds = [], []
    for frame, found in zip(frames, detections):
        given = found if tracking.needs_detection(frame) else None
        started = time.perf_counter()
        tracked = tracking.step(frame, given).tracked
        if given is not None:
            seconds.append(time.perf_counter() - started)
        outputs.append((tracked.tracker_id, tracked.xyxy))
    return outputs, seconds


def run_peer(tracker_class, frames, sv_detections, stride):
    tracker = tracker_class(frame_rate=FPS)
    outputs, seconds = [], []
    held = (np.zeros(0, np.int64), np.zeros((0, 4)))
    for frame, found in zip(frames, sv_detections):
        if frame.index % stride == 0:
            started = time.perf_counter()
            # Time stamps only with a stride: without, the peers step one frame per call (their default).
            result = tracker.update(found, timestamp=frame.index / FPS if stride > 1 else None)
            seconds.append(time.perf_counter() - started)
            confirmed = result.tracker_id != -1
            held = (result.tracker_id[confirmed], result.xyxy[confirmed])
        outputs.append(held)
    return outputs, seconds


def score(outputs, gt):
    from edge.contract.boxes import xyxy_to_xywh
    from edge.contract.motfile import MotRows
    from edge.evaluation.mot import evaluate_mot

    frame = np.concatenate([np.full(len(ids), index + 1) for index, (ids, _) in enumerate(outputs)])
    track_id = np.concatenate([np.asarray(ids, np.int64) for ids, _ in outputs])
    tlwh = np.concatenate([xyxy_to_xywh(xyxy) for _, xyxy in outputs]) if len(frame) else np.zeros((0, 4))
    return evaluate_mot(gt, MotRows(frame.astype(np.int64), track_id, tlwh, np.ones(len(frame))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds, interleaved (default: %(default)s)")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3], help="detect-every values")
    args = parser.parse_args()

    import supervision as sv
    from trackers import BoTSORTTracker, ByteTrackTracker, OCSORTTracker

    from edge.contract.motfile import read_mot_file
    from edge.sources import open_source

    warnings.simplefilter("ignore")  # the peers warn about unused arguments, not about results
    frames = list(open_source(SEQUENCE / "img1", image_fps=FPS))
    detections = detect_once(frames)
    sv_detections = [
        sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.confidence, class_id=d.class_id)
        for d in detections
    ]
    gt = read_mot_file(SEQUENCE / "gt" / "gt.txt")
    peers = {"trackers ByteTrack": ByteTrackTracker, "trackers OC-SORT": OCSORTTracker,
             "trackers BoT-SORT": BoTSORTTracker}
    names = ["ours (edge.tracking)", *peers]

    rows = []
    for stride in args.strides:
        medians = {name: [] for name in names}
        metrics = {}
        for _ in range(args.rounds):
            for name in names:  # interleaved, so drifts in load hit every tracker alike
                if name in peers:
                    outputs, seconds = run_peer(peers[name], frames, sv_detections, stride)
                else:
                    outputs, seconds = run_ours(frames, detections, stride)
                medians[name].append(statistics.median(seconds) * 1e3)
                metrics[name] = score(outputs, gt)  # deterministic: the last round's is every round's
        for name in names:
            m = metrics[name]
            rows.append({"tracker": name, "detect_every": stride, "mota": round(m.mota, 3), "idf1": round(m.idf1, 3),
                         "hota": round(m.hota, 3), "id_switches": m.id_switches, "false_positives": m.false_positives,
                         "false_negatives": m.false_negatives, "ids": m.result_ids,
                         "update_ms_median": round(statistics.median(medians[name]), 4)})

    print(f"TUD-Campus, {len(frames)} frames, {sum(len(d) for d in detections)} YOLOX-Nano person boxes "
          f"(score >= {SCORE_THRESHOLD}), {gt.track_id.size} ground-truth boxes; {args.rounds} timing rounds")
    header = f"{'tracker':<22} {'k':>2} {'MOTA':>6} {'IDF1':>6} {'HOTA':>6} {'IDSW':>5} {'FP':>4} {'FN':>4} {'ids':>4} {'ms/update':>10}"
    print(header)
    for row in rows:
        print(f"{row['tracker']:<22} {row['detect_every']:>2} {row['mota']:>6.3f} {row['idf1']:>6.3f} {row['hota']:>6.3f} "
              f"{row['id_switches']:>5} {row['false_positives']:>4} {row['false_negatives']:>4} {row['ids']:>4} "
              f"{row['update_ms_median']:>10.3f}")
    for stride in args.strides:
        mine = next(r for r in rows if r["detect_every"] == stride and r["tracker"] == names[0])
        others = [r for r in rows if r["detect_every"] == stride and r["tracker"] != names[0]]
        fastest = min(others, key=lambda r: r["update_ms_median"])
        best = max(others, key=lambda r: r["idf1"])
        print(f"k={stride}: IDF1 ours {mine['idf1']:.3f} vs best peer {best['idf1']:.3f} ({best['tracker']}); "
              f"update time ours / fastest peer ({fastest['tracker']}) = "
              f"{mine['update_ms_median'] / fastest['update_ms_median']:.2f}")
    print(json.dumps({"bench": "tracking", "sequence": "TUD-Campus", "frames": len(frames), "rounds": args.rounds,
                      "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
