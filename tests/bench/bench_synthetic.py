"""Synthetic annotation benchmark: does the shared detector find the pasted objects as often as real ones?

Run:  /work/venv/bin/python tests/bench/bench_synthetic.py            (about half a minute on 2 cores)
      /work/venv/bin/python tests/bench/bench_synthetic.py --quick    (fewer frames and seeds)

A realism proxy: an object the detector finds on a synthetic frame looks enough like a person to it.
For each fixed camera, real frames are stored in a fresh data directory and accepted as verified,
then synthetic frames are generated per seed, and the shared YOLOX-Nano (``edge.detection``, score
threshold 0.3) runs on them. Reported: the share of pasted objects it finds (a detection with
IoU >= 0.5, any class / the same class), next to the same share for the verified boxes of the real
frames of that camera, in the same run; medians over seeds. Objects under 20% occluded only (a
half-hidden person is hard on real frames too, and the real side has no occlusion filter).

* TUD-Campus (MOT15, 71 frames, human ground truth): the verified boxes are the ground truth, so the
  real rate is the detector's honest recall on that camera.
* PETS09 S2.L1 (every 10th of 795 frames, no ground truth here): the verified boxes are the
  detector's own boxes at score 0.4 accepted as they are, so the real rate is near 1 by
  construction; it is a ceiling, not a recall. The synthetic rate is the informative number.
A colour-matching ablation (objects pasted with their original colours) runs on the same seeds.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.contract.boxes import iou_xyxy  # noqa: E402
from edge.contract.phash import phash64, phash_hex  # noqa: E402
from edge.contract.wire import FrameHeader, Labels  # noqa: E402
from edge.detection.runner import Detector  # noqa: E402
from server.datadir import DB_FILENAME, DataDir  # noqa: E402
from server.importers import read_dataset  # noqa: E402
from server.importers.importer import device_name, import_dataset  # noqa: E402
from server.media import MediaStore  # noqa: E402
from server.review.queue import ReviewQueue  # noqa: E402
from server.synthetic.generate import SynthesisSettings  # noqa: E402
from server.synthetic.pipeline import synthesize  # noqa: E402

SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
PETS = SHARED / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
TUD = SHARED / "data" / "mot" / "TUD-Campus"
IOU_MATCH = 0.5
MAX_OCCLUDED = 0.2


def found(detector, image, truth_xyxy, truth_classes) -> tuple[int, int]:
    """(found any class, found same class) among the truth boxes, one detection per truth box at most."""
    detections = detector.detect(image)
    names = np.array([detector.class_names[c] for c in detections.class_id])
    counts = []
    for class_aware in (False, True):
        ious = iou_xyxy(np.asarray(truth_xyxy, float).reshape(-1, 4), detections.xyxy.astype(float))
        if class_aware:
            ious = np.where(names[None, :] == np.asarray(truth_classes)[:, None], ious, 0.0)
        hits, used = 0, set()
        for i in np.argsort(-ious.max(axis=1) if ious.size else np.zeros(len(truth_xyxy))):
            if not ious.size:
                break
            order = [j for j in np.argsort(-ious[i]) if j not in used and ious[i, j] >= IOU_MATCH]
            if order:
                used.add(order[0])
                hits += 1
        counts.append(hits)
    return counts[0], counts[1]


def pets_store(data_dir: Path, detector: Detector, step: int) -> str:
    capture = cv2.VideoCapture(str(PETS))
    batch, index = [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % step == 0:
            detections = detector.detect(image)
            keep = (detections.class_id == 0) & (detections.confidence >= 0.4)
            xyxy = detections.xyxy[keep].astype(float)
            labels = Labels(xyxy=tuple(tuple(b) for b in xyxy), score=tuple(detections.confidence[keep].astype(float)),
                            class_id=(0,) * len(xyxy), track_id=(-1,) * len(xyxy))
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            batch.append((FrameHeader(device="pets09", seq=index, capture_ts=1.0e9 + index / 10, width=image.shape[1],
                                      height=image.shape[0], model_id=detector.model_id,
                                      class_names=detector.class_names, labels=labels, reasons=("bench",),
                                      phash=phash_hex(phash64(image)), frame_index=index), jpeg.tobytes()))
        index += 1
    capture.release()
    with DataDir.open(data_dir) as store:
        store.ingest_frames(batch)
    with ReviewQueue.open(data_dir) as queue:
        for frame in queue.next(limit=1000):
            queue.claim("bench", frame["id"])
            queue.submit("bench", frame["id"], "accept")
    return "pets09"


def tud_store(data_dir: Path) -> str:
    with DataDir.open(data_dir) as store:
        import_dataset(store, read_dataset(TUD), verified=True)
    return device_name("TUD-Campus")


def real_rate(detector, data_dir: Path, device: str) -> tuple[float, float, int]:
    media = MediaStore(data_dir / "media")
    with closing(sqlite3.connect(data_dir / DB_FILENAME)) as conn:  # ad-hoc reads, read-only
        frames = conn.execute(
            "SELECT id, media_sha256 FROM frames WHERE device = ? AND status IN ('accepted', 'corrected')", [device]
        ).fetchall()
        boxes = {}
        for frame_id, x1, y1, x2, y2, name in conn.execute(
                "SELECT frame_id, x1, y1, x2, y2, class_name FROM annotations"):
            boxes.setdefault(frame_id, []).append(((x1, y1, x2, y2), name))
    total = any_class = same_class = 0
    for frame_id, sha256 in frames:
        truth = boxes.get(frame_id, [])
        if not truth:
            continue
        image = cv2.imread(str(media.path_for(sha256)))
        a, s = found(detector, image, [b for b, _ in truth], [n for _, n in truth])
        total, any_class, same_class = total + len(truth), any_class + a, same_class + s
    return any_class / total, same_class / total, total


def synthetic_rate(detector, data_dir: Path, device: str, count: int, seed: int, colour_match: bool):
    result = synthesize(data_dir, device, SynthesisSettings(count=count, classes=("person",), min_objects=2,
                                                            max_objects=4, colour_match=colour_match), seed=seed)
    media = MediaStore(data_dir / "media")
    total = any_class = same_class = 0
    with closing(sqlite3.connect(data_dir / DB_FILENAME)) as conn:
        for frame_id in result.frame_ids:
            (sha256,) = conn.execute("SELECT media_sha256 FROM frames WHERE id = ?", [frame_id]).fetchone()
            objects = conn.execute("SELECT x1, y1, x2, y2, class_name FROM synthetic_objects WHERE frame_id = ?"
                                   " AND occluded_fraction <= ?", [frame_id, MAX_OCCLUDED]).fetchall()
            if not objects:
                continue
            image = cv2.imread(str(media.path_for(sha256)))
            a, s = found(detector, image, [o[:4] for o in objects], [o[4] for o in objects])
            total, any_class, same_class = total + len(objects), any_class + a, same_class + s
    return any_class / total, same_class / total, total, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seeds = range(2) if args.quick else range(5)
    count = 15 if args.quick else 40
    detector = Detector(MODEL, threads=2)
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as temp:
        for camera, build in (("TUD-Campus", lambda d: tud_store(d)),
                              ("PETS09", lambda d: pets_store(d, detector, 20 if args.quick else 10))):
            data_dir = Path(temp) / camera
            device = build(data_dir)
            real_any, real_same, real_n = real_rate(detector, data_dir, device)
            row = {"camera": camera, "real_objects": real_n, "real_any": real_any, "real_same": real_same}
            for colour_match in (True, False):
                runs = [synthetic_rate(detector, data_dir, device, count, seed, colour_match) for seed in seeds]
                key = "synthetic" if colour_match else "synthetic_no_colour_match"
                row[f"{key}_any"] = statistics.median(r[0] for r in runs)
                row[f"{key}_same"] = statistics.median(r[1] for r in runs)
                row[f"{key}_objects"] = statistics.median(r[2] for r in runs)
                bank = runs[0][3].to_json()["bank"]
                row["bank"], row["background_frames"] = bank, runs[0][3].to_json()["background"]["frames"]
            rows.append(row)
    print(f"detector found pasted/real objects (IoU >= {IOU_MATCH}); medians over {len(seeds)} seeds x "
          f"{count} synthetic frames; occluded <= {MAX_OCCLUDED:.0%}")
    print(f"{'camera':12} {'real n':>6} {'real any':>9} {'real cls':>9} {'syn n':>6} {'syn any':>8} {'syn cls':>8} "
          f"{'raw any':>8} {'raw cls':>8}  {'syn/real':>8}")
    for r in rows:
        print(f"{r['camera']:12} {r['real_objects']:6d} {r['real_any']:9.3f} {r['real_same']:9.3f} "
              f"{r['synthetic_objects']:6.0f} {r['synthetic_any']:8.3f} {r['synthetic_same']:8.3f} "
              f"{r['synthetic_no_colour_match_any']:8.3f} {r['synthetic_no_colour_match_same']:8.3f}  "
              f"{r['synthetic_same'] / r['real_same']:8.3f}")
    print("(raw: pasted without colour matching)")
    print(json.dumps({"bench": "synthetic", "seconds": round(time.perf_counter() - started, 1), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
