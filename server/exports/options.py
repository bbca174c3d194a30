"""Settings shared by the format writers, and the progress callback they report through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

from server.exports.errors import ExportError

T = TypeVar("T")
Progress = Callable[[Iterable[T], int, str], Iterator[T]]
"""``progress(items, total, description)`` yields ``items`` and shows how far it got."""


def no_progress(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    yield from items


@dataclass(frozen=True)
class HeldOut:
    """YOLO ``--val-from``: the frames of one device, or those captured in ``[since, until)`` (Unix seconds)."""

    device: str | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if (self.device is None) == (self.since is None and self.until is None):
            raise ExportError("--val-from: expected a device name or a time range START..END")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ExportError(f"--val-from: the time range {_iso(self.since)}..{_iso(self.until)} is empty")

    def holds(self, frame) -> bool:
        if self.device is not None:
            return frame.device == self.device
        return ((self.since is None or frame.capture_ts >= self.since)
                and (self.until is None or frame.capture_ts < self.until))

    def describe(self) -> str:
        if self.device is not None:
            return f"from device {self.device}"
        return f"captured in {_iso(self.since)}..{_iso(self.until)}"


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ExportOptions:
    link_images: bool = False
    """Hard-link images from the store instead of copying them (see :func:`server.exports.writing.place_image`)."""
    val_fraction: float = 0.2
    """YOLO: share of frames for the validation split (whole tracks and time spans move together)."""
    val_from: HeldOut | None = None
    """YOLO: put these frames in val, and the rest in train, instead of splitting by track and time."""
    image_url_prefix: str = ""
    """Label Studio: put before each image's relative path in the task (e.g. ``/data/local-files/?d=export/``)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ExportError(f"--val-fraction: expected a share in [0, 1), got {self.val_fraction}")
