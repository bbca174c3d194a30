"""The tracker on real frames with real ground truth (TUD-Campus), guarded by stored scores.

In the style of norfair's regression job: the YOLOX-Nano person detections of the 71 frames are
computed once, tracked with the detector on every frame and on every 2nd and 3rd frame, scored
with MOTA and IDF1, and the test fails when a score drops below the stored baseline.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from edge.contract.boxes import xyxy_to_xywh
from edge.contract.motfile import MotRows, read_mot_file
from edge.detection.runner import Detector
from edge.evaluation.mot import evaluate_mot
from edge.sources import open_source
from edge.tracking import ByteTracker, StridedTracker
from tests.conftest import DATA_DIR, MODEL_PATH

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus"
BASELINE = json.loads((Path(__file__).parent / "baseline_tud_campus.json").read_text())
PERSON = 0
TRACKING_SCORE_THRESHOLD = 0.1  # the tracker's low-score stage needs the detector's weak boxes


@pytest.fixture(scope="module")
def frames_and_detections():
    detector = Detector(MODEL_PATH, score_threshold=TRACKING_SCORE_THRESHOLD, threads=1)
    frames, detections = [], []
    for frame in open_source(TUD_CAMPUS / "img1", image_fps=25.0):
        found = detector.detect(frame.image)
        frames.append(frame)
        detections.append(found[found.class_id == PERSON])
    return frames, detections


def track(frames, detections, detect_every):
    """MOT rows of the tracker's output; the detections of skipped frames are never looked at."""
    tracking = StridedTracker(ByteTracker(), detect_every)
    table, detected = [], 0
    for frame, found in zip(frames, detections):
        given = found if tracking.needs_detection(frame) else None
        detected += given is not None
        tracked = tracking.step(frame, given).tracked
        for track_id, tlwh, score in zip(tracked.tracker_id, xyxy_to_xywh(tracked.xyxy), tracked.confidence):
            table.append((frame.index + 1, track_id, *tlwh, score))
    table = np.asarray(table, np.float64)
    rows = MotRows(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2:6], table[:, 6])
    return rows, detected


@pytest.mark.parametrize("detect_every", [1, 2, 3])
def test_scores_stay_at_or_above_the_baseline(frames_and_detections, detect_every):
    frames, detections = frames_and_detections
    assert len(frames) == 71
    results, detected = track(frames, detections, detect_every)
    assert detected == len(range(0, 71, detect_every))
    metrics = evaluate_mot(read_mot_file(TUD_CAMPUS / "gt" / "gt.txt"), results)
    baseline = BASELINE["detect_every"][str(detect_every)]
    floor = {name: value - BASELINE["tolerance"] for name, value in baseline.items()}
    assert metrics.idf1 >= floor["idf1"], f"IDF1 {metrics.idf1:.3f} fell below the baseline {baseline['idf1']}"
    assert metrics.mota >= floor["mota"], f"MOTA {metrics.mota:.3f} fell below the baseline {baseline['mota']}"


def test_with_detect_every_3_every_frame_still_has_boxes(frames_and_detections):
    frames, detections = frames_and_detections
    results, _ = track(frames, detections, 3)
    assert set(results.frame) == set(range(1, 72))  # predicted frames are not empty
    # Boxes of predicted frames stay inside the image (the wire format refuses others).
    xyxy = np.column_stack([results.tlwh[:, :2], results.tlwh[:, :2] + results.tlwh[:, 2:]])
    assert (xyxy >= 0).all() and (xyxy[:, 2] <= 640).all() and (xyxy[:, 3] <= 480).all()
