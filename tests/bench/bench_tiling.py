"""Benchmark: sliced inference on the 3K sideline camera, ours against SAHI with the same model.

Rows, on every 10th of the first 100 frames of the shared SoccerTrack clip (3072x1728), with the
shared YOLOX-Nano on ONNX Runtime, 2 threads, score >= 0.3:
  * untiled: the frame letterboxed into 416x416;
  * ours, tiles one after another (1 stream), side by side (2 streams), and as one batch (the
    model made batch-dynamic with ``edgelabel-agent dynamic-batch``): ``--tiles auto`` (2x4
    tiles, 20% overlap, plus the whole frame);
  * SAHI's ``get_sliced_prediction`` with the same grid (904x960 slices, 20% overlap, the whole
    frame too, its default GREEDYNMM merge on IOS 0.5), running our detector on each slice
    through a minimal ``DetectionModel`` wrapper: the same model, letterbox and decoding.
Columns: people per frame (mean), median ms per frame, pairs of person boxes with IoU > 0.6
(boxes counted twice). Rows take turns frame by frame so background load hits all alike.

SAHI needs OpenCV with GUI libraries as a dependency; in the dev venv install it without them:
    .venv/bin/pip install --no-deps sahi && .venv/bin/pip install shapely fire click requests
    python tests/bench/bench_tiling.py [--frames 10]

Not a test: prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
CLIP = SHARED / "data" / "videos" / "soccer_sideline_soccertrack_left_camera.mp4"
sys.path.insert(0, str(REPO))


def sahi_row(detector):
    """A callable running SAHI's sliced prediction with ``detector`` on each slice."""
    from sahi.models.base import DetectionModel
    from sahi.predict import get_sliced_prediction
    from sahi.prediction import ObjectPrediction
    from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list

    class EdgelabelModel(DetectionModel):
        def load_model(self):
            self.model = detector

        def set_model(self, model, **kwargs):
            self.model = model

        def perform_inference(self, image):
            self._original_predictions = [self.model.detect(np.ascontiguousarray(image[:, :, ::-1]))]  # RGB in

        def _create_object_prediction_list_from_original_predictions(self, shift_amount_list=[[0, 0]],
                                                                      full_shape_list=None):
            shift = [int(v) for v in fix_shift_amount_list(shift_amount_list)[0]]
            full_shapes = fix_full_shape_list(full_shape_list)
            full = [int(v) for v in full_shapes[0]] if full_shapes else None
            found = self._original_predictions[0]
            self._object_prediction_list_per_image = [[
                ObjectPrediction(bbox=[float(v) for v in xyxy], category_id=int(c), score=float(s),
                                 category_name=detector.class_names[int(c)], shift_amount=shift, full_shape=full)
                for xyxy, s, c in zip(found.xyxy, found.confidence, found.class_id)
            ]]

    model = EdgelabelModel(model=detector, confidence_threshold=0.3,
                           category_mapping={str(i): n for i, n in enumerate(detector.class_names)})

    def detect(image_bgr):
        result = get_sliced_prediction(
            np.ascontiguousarray(image_bgr[:, :, ::-1]), model, slice_height=960, slice_width=904,
            overlap_height_ratio=0.2, overlap_width_ratio=0.2, perform_standard_pred=True, verbose=0,
        )  # fmt: skip
        people = [p.bbox.to_xyxy() for p in result.object_prediction_list if p.category.id == 0]
        return np.array(people, np.float32).reshape(-1, 4)

    return detect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edge.detection.dynamic_batch import make_batch_dynamic
    from edge.evaluation.mean_ap import pairwise_iou
    from edge.detection.runner import Detector
    from edge.detection.runtimes import RuntimeSettings
    from edge.detection.tiled import TiledDetector

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    for index in range(10 * args.frames):
        ok, image = capture.read()
        if not ok:
            break
        if index % 10 == 0:
            frames.append(image)
    work = Path(tempfile.mkdtemp(prefix="bench-tiling-"))
    batch_model = work / "yolox_nano.batch.onnx"
    make_batch_dynamic(MODEL, batch_model, frames[:2])

    def people(found):
        return found.xyxy[found.class_id == 0]

    plain = Detector(MODEL, threads=args.threads)
    two = Detector(MODEL, threads=args.threads, runtime=RuntimeSettings(streams=2))
    rows = {
        "untiled": lambda image: people(plain.detect(image)),
        "ours, 1 stream": (lambda t: lambda image: people(t.detect(image)))(TiledDetector(plain, "auto")),
        "ours, 2 streams": (lambda t: lambda image: people(t.detect(image)))(TiledDetector(two, "auto")),
        "ours, one batch": (lambda t: lambda image: people(t.detect(image)))(
            TiledDetector(Detector(batch_model, threads=args.threads), "auto")),
    }
    try:
        rows["SAHI, same model"] = sahi_row(plain)
    except ImportError:
        print("SAHI not installed: its row is left out (see this file's docstring)", file=sys.stderr)
    measured = {label: {"people": [], "ms": [], "twice": []} for label in rows}
    for image in frames:
        for label, detect in rows.items():
            started = time.perf_counter()
            found = detect(image)
            measured[label]["ms"].append((time.perf_counter() - started) * 1000.0)
            measured[label]["people"].append(len(found))
            overlap = pairwise_iou(found, found)
            np.fill_diagonal(overlap, 0)
            measured[label]["twice"].append(int((overlap > 0.6).sum() // 2))

    print(f"{CLIP.name}, {len(frames)} frames 3072x1728, YOLOX-Nano 416 on ONNX Runtime, {args.threads} threads")
    print(f"{'row':<18} {'people/frame':>12} {'ms/frame':>9} {'boxed twice':>11}")
    results = []
    for label, m in measured.items():
        row = {"row": label, "people_per_frame": round(statistics.mean(m["people"]), 2),
               "ms_median": round(statistics.median(m["ms"]), 1), "boxed_twice": sum(m["twice"])}
        results.append(row)
        print(f"{label:<18} {row['people_per_frame']:>12.1f} {row['ms_median']:>9.1f} {row['boxed_twice']:>11}")
    print(json.dumps({"bench": "tiling", "clip": CLIP.name, "frames": len(frames), "threads": args.threads,
                      "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
