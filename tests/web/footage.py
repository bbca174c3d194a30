"""Frames of the shared footage, pre-labeled by the real detector (no tracker), stored as a device
sent them: for browser tests that need particular real scenes (a crowd, several cameras)."""

from __future__ import annotations

from pathlib import Path

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import NO_TRACK, FrameHeader, Labels
from edge.detection.runner import Detector
from server.datadir import DataDir
from tests.conftest import MODEL_PATH
from tests.server._frames import clip_frames, encode


def store_detected_frames(data_dir: Path, device: str, video: str, indices: tuple[int, ...],
                          first_capture_ts: float, priority: float = 0.5) -> None:
    """The clip's frames at ``indices`` with the detector's boxes, as ``device``'s frames (seq and
    frame index = the index in the clip, captured 0.1 s apart per index from ``first_capture_ts``)."""
    detector = Detector(MODEL_PATH, threads=2)
    batch = []
    for index, image in zip(indices, clip_frames(video, indices)):
        found = detector.detect(image)
        labels = Labels(xyxy=tuple(tuple(float(v) for v in box) for box in found.xyxy),
                        score=tuple(float(s) for s in found.confidence),
                        class_id=tuple(int(c) for c in found.class_id), track_id=(NO_TRACK,) * len(found.xyxy))
        height, width = image.shape[:2]
        header = FrameHeader(device=device, seq=index, capture_ts=first_capture_ts + index / 10, width=width,
                             height=height, model_id=detector.model_id, class_names=tuple(detector.class_names),
                             labels=labels, reasons=("test",), priority=priority, phash=phash_hex(phash64(image)),
                             frame_index=index)
        batch.append((header, encode(image)))
    with DataDir.open(data_dir) as store:
        store.ingest_frames(batch)
