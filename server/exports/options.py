"""Settings shared by the format writers, and the progress callback they report through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from server.exports.errors import ExportError

T = TypeVar("T")
Progress = Callable[[Iterable[T], int, str], Iterator[T]]
"""``progress(items, total, description)`` yields ``items`` and shows how far it got."""


def no_progress(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    yield from items


@dataclass(frozen=True)
class ExportOptions:
    link_images: bool = False
    """Hard-link images from the store instead of copying them (see :func:`server.exports.writing.place_image`)."""
    val_fraction: float = 0.2
    """YOLO: share of frames for the validation split (whole tracks and time spans move together)."""
    image_url_prefix: str = ""
    """Label Studio: put before each image's relative path in the task (e.g. ``/data/local-files/?d=export/``)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ExportError(f"--val-fraction: expected a share in [0, 1), got {self.val_fraction}")
