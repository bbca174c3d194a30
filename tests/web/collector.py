"""A real collector process for the browser tests, over frames of a shared clip pre-labeled by the
real detector and tracked by the real tracker (the agent's own stages, without its selector)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import NO_TRACK, FrameHeader, Labels
from edge.detection.runner import Detector
from edge.tracking.bytetrack import ByteTracker
from server.datadir import DataDir
from tests.conftest import MODEL_PATH, REPO_DIR
from tests.server._frames import PETS, VIDEOS_DIR, encode

FRAMES = 176
CAM_EVERY, SOLO_OFFSET = 16, 8
XSS_DEVICE = "<img src=x onerror=alert(1)>"


def labeled_clip() -> list[tuple[int, np.ndarray, Labels, tuple[str, ...], str]]:
    """(index, image, tracked labels, class names, model id) for the first FRAMES frames of PETS."""
    detector = Detector(MODEL_PATH, threads=2)
    tracker = ByteTracker()
    capture = cv2.VideoCapture(str(VIDEOS_DIR / PETS))
    out = []
    try:
        for index in range(FRAMES):
            ok, image = capture.read()
            assert ok, f"{PETS} ended at frame {index}"
            tracked = tracker.update(detector.detect(image)).detections
            labels = Labels(xyxy=tuple(tuple(float(v) for v in box) for box in tracked.xyxy),
                            score=tuple(float(s) for s in tracked.confidence),
                            class_id=tuple(int(c) for c in tracked.class_id),
                            track_id=tuple(int(t) for t in tracked.tracker_id))
            out.append((index, image, labels, detector.class_names, detector.model_id))
    finally:
        capture.release()
    return out


def _only_track(labels: Labels, track_id: int) -> Labels:
    keep = [i for i, t in enumerate(labels.track_id) if t == track_id]
    return Labels(xyxy=tuple(labels.xyxy[i] for i in keep), score=tuple(labels.score[i] for i in keep),
                  class_id=tuple(labels.class_id[i] for i in keep), track_id=tuple(labels.track_id[i] for i in keep))


def ingest_clip(data_dir: Path) -> int:
    """Store keyframes of device ``cam`` (all boxes), ``solo`` (only its longest track's boxes, so
    accepting that track completes its frames) and one of the XSS-named device; the solo track id."""
    clip = labeled_clip()
    solo = [item for item in clip if item[0] % CAM_EVERY == SOLO_OFFSET]
    counts: dict[int, int] = {}
    for _, _, labels, _, _ in solo:
        for t in set(labels.track_id) - {NO_TRACK}:
            counts[t] = counts.get(t, 0) + 1
    solo_track = max(counts, key=counts.get)
    batch = []
    for index, image, labels, names, model_id in clip:
        if index % CAM_EVERY == 0:
            device, kept = "cam", labels
        elif index % CAM_EVERY == SOLO_OFFSET and solo_track in labels.track_id:
            device, kept = "solo", _only_track(labels, solo_track)
        else:
            continue
        batch.append((_header(device, index, image, kept, names, model_id), encode(image)))
    index, image, labels, names, model_id = clip[3]
    batch.append((_header(XSS_DEVICE, index, image, labels, names, model_id), encode(image)))
    with DataDir.open(data_dir) as store:
        store.ingest_frames(batch)
    return solo_track


def _header(device: str, index: int, image: np.ndarray, labels: Labels, names, model_id: str) -> FrameHeader:
    height, width = image.shape[:2]
    return FrameHeader(device=device, seq=index, capture_ts=1_700_000_000.0 + index / 10, width=width,
                       height=height, model_id=model_id, class_names=tuple(names), labels=labels,
                       reasons=("test",), priority=0.5, phash=phash_hex(phash64(image)), frame_index=index)


def add_account(data_dir: Path, name: str, role: str, password: str) -> None:
    """Through the real command, with the password piped on stdin."""
    result = subprocess.run([sys.executable, "-m", "server", "users", "add", name, "--role", role,
                             "--data-dir", str(data_dir)], input=password + "\n", text=True, capture_output=True,
                            cwd=REPO_DIR, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


class CollectorProcess:
    """``python -m server serve`` with --http on a free loopback port (and ``extra_args``, e.g. --config)."""

    def __init__(self, data_dir: Path, extra_args: tuple[str, ...] = ()):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", "tcp://127.0.0.1:*",
             "--insecure", "--http", "127.0.0.1:0", *extra_args], stdout=subprocess.PIPE, text=True, cwd=REPO_DIR)
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout_s: float = 30.0) -> str:
        # A reader thread, not select(): a buffered text pipe may hold several lines select cannot see.
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith("review API on "):
                return line.split()[-1]
        self.stop()
        raise AssertionError("the collector did not start its web UI")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
