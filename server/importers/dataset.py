"""What a dataset reader hands to the ingest: images with their boxes, in a stable order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge.contract.boxes import Box
from server.errors import CollectorError


class DatasetImportError(CollectorError):
    """A dataset that cannot be read (missing folder, malformed labels, unknown class)."""


@dataclass(frozen=True)
class ImportedBox:
    xyxy: Box
    class_id: int
    track_id: int | None = None


@dataclass(frozen=True)
class ImportedImage:
    path: Path
    seq: int
    """The frame's sequence number on its import device: stable for the same file in the same
    dataset, so importing a dataset twice stores nothing twice."""
    frame_index: int
    """Position in the dataset's order (the frame number of a sequence)."""
    boxes: tuple[ImportedBox, ...] = ()
    expected_size: tuple[int, int] | None = None
    """(width, height) the labels were made for, when the dataset says."""
    image_id: int | None = None
    """The dataset's own id of the image (the COCO image id), kept with the frame for exports."""


@dataclass
class Dataset:
    kind: str
    name: str
    class_names: tuple[str, ...]
    images: list[ImportedImage]
    fps: float | None = None
    """Frames per second of a video sequence; None for a set of stills."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Labels or images the reader left out, by reason."""
    label_files: set[Path] = field(default_factory=set)
    """The files the reader took labels or class names from (see :mod:`.unused`)."""

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count
