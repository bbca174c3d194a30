"""The file an imported frame was read from, kept with the frame (``frames.source_file``,
``frames.source_image_id``) so exports can name it as the dataset did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameSource:
    file_name: str
    """The image file's name in the imported dataset (no folder)."""
    image_id: int | None = None
    """The dataset's own id of the image (the COCO image id), when it has one."""
