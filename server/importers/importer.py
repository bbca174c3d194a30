"""A read dataset into the store through the same path as frames from the edge.

Each image becomes a :class:`~edge.contract.wire.FrameHeader` (device ``import:<name>``, reasons
``["imported"]``, the dataset's boxes as pre-labels with score 1) plus its JPEG and its
:class:`~server.frame_source.FrameSource` (file name, COCO image id), and goes to
:meth:`DataDir.ingest_frames` in batches: stored, checked for duplicates, queued. Images that are
not JPEG are re-encoded (the store keeps JPEGs only). Boxes are cut to the image.

With ``verified=True`` the labels were checked elsewhere: each newly queued frame is then claimed
and accepted through the review queue (author ``import:<name>``), so its boxes become verified
annotations with the usual audit trail. Frames found to be duplicates stay duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.contract.boxes import clip_xyxy
from edge.contract.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from edge.contract.wire import NO_TRACK, FrameHeader, Labels, WireError, jpeg_size
from server.datadir import DataDir
from server.dedup.frame_signature import signature_of_gray
from server.frame_source import FrameSource
from server.images import gray_for_signature, verify_jpeg
from server.importers.dataset import Dataset, DatasetImportError, ImportedImage
from server.review.queue import ReviewQueue

BATCH_SIZE = 64
IMPORT_PRIORITY = 0.5
REENCODE_QUALITY = 95


@dataclass
class ImportSummary:
    dataset: str
    device: str
    images: int = 0
    stored: int = 0
    duplicates: int = 0
    already_imported: int = 0
    boxes: int = 0
    accepted: int = 0
    reencoded: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def device_name(dataset_name: str) -> str:
    return f"import:{dataset_name}"


def import_dataset(store: DataDir, dataset: Dataset, verified: bool = False, progress=None) -> ImportSummary:
    """Ingest every image of ``dataset`` into ``store``; ``progress(items, total, description)`` optional."""
    device = device_name(dataset.name)
    summary = ImportSummary(dataset.name, device, images=len(dataset.images))
    images: Iterable[ImportedImage] = dataset.images
    if progress is not None:
        images = progress(images, len(dataset.images), f"import {dataset.name}")
    started = time.time()
    queued: list[int] = []
    for batch in _batches(_frames(dataset, images, device, started, summary), BATCH_SIZE):
        frames, sources = zip(*batch)
        for outcome in store.ingest_frames(list(frames), sources=sources):
            if not outcome.stored:
                summary.already_imported += 1
            elif outcome.status == "duplicate":
                summary.duplicates += 1
            else:
                summary.stored += 1
                queued.append(outcome.frame_id)
    if verified and queued:
        summary.accepted = _accept(ReviewQueue(store.db), queued, device)
    summary.skipped = dict(sorted(dataset.skipped.items()))
    return summary


def _frames(dataset: Dataset, images: Iterable[ImportedImage], device: str, started: float,
            summary: ImportSummary) -> Iterator[tuple[tuple, FrameSource]]:
    """Per image that can be stored: (header, JPEG, signature) for the store, and where it came from."""
    frame_seconds = 1.0 / dataset.fps if dataset.fps else 1.0
    for image in images:
        loaded = _load_jpeg(image.path, dataset, summary)
        if loaded is None:
            continue
        jpeg, width, height = loaded
        if image.expected_size is not None and image.expected_size != (width, height):
            dataset.skip("image size differs from its labels")
            continue
        try:
            signature = signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, width, height)))
        except WireError as exc:
            dataset.skip(f"unreadable image ({exc.detail})")
            continue
        boxes = []
        for box in image.boxes:
            xyxy = clip_xyxy(box.xyxy, width, height)
            if xyxy is None:
                dataset.skip("box outside the image")
            else:
                boxes.append((xyxy, box.class_id, box.track_id))
        summary.boxes += len(boxes)
        header = FrameHeader(
            device=device, seq=image.seq, capture_ts=started + image.frame_index * frame_seconds,
            source_ts=image.frame_index * frame_seconds, frame_index=image.frame_index, width=width, height=height,
            model_id=device, class_names=dataset.class_names,
            labels=Labels(xyxy=tuple(b[0] for b in boxes), score=tuple(1.0 for _ in boxes),
                          class_id=tuple(b[1] for b in boxes),
                          track_id=tuple(NO_TRACK if b[2] is None else b[2] for b in boxes)),
            reasons=("imported",), priority=IMPORT_PRIORITY, phash=f"{signature.phash:016x}",
        )
        yield (header, jpeg, signature), FrameSource(image.path.name, image.image_id)


def _load_jpeg(path: Path, dataset: Dataset, summary: ImportSummary) -> tuple[bytes, int, int] | None:
    """The image as JPEG bytes with its size; None (counted as skipped) when it cannot be stored."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        width, height = jpeg_size(data)
    except WireError:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            dataset.skip("not an image")
            return None
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, REENCODE_QUALITY])
        if not ok:
            dataset.skip("cannot re-encode as JPEG")
            return None
        data, (height, width) = encoded.tobytes(), image.shape[:2]
        summary.reencoded += 1
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        dataset.skip("image too large")
        return None
    return data, width, height


def _accept(queue: ReviewQueue, frame_ids: list[int], author: str) -> int:
    """Accept ``frame_ids`` as ``author`` through the review queue, on the import's own database."""
    for frame_id in frame_ids:
        queue.claim(author, frame_id)
        queue.submit(author, frame_id, "accept", comment="labels verified outside edgelabel (import)")
    return len(frame_ids)


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
