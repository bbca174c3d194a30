"""File names and image ids of an export: the imported dataset's own where they stay unique.

An imported frame keeps its source file's name and COCO image id (:mod:`server.frame_source`).
An export names the frame's files after that file (``000000397133.jpg``) and COCO numbers the
image with that id, unless two frames of the export would then share one; those frames, and
frames that came from the edge, get the collector's own name (the device made file-safe and
the sequence number) and the frame id. Names are compared without case, as some file systems do.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from pathlib import PurePath
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` as a file name; a name that had to change gets a short digest so two never collide."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "device"
    if cleaned == name:
        return name
    return f"{cleaned}~{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def collector_stem(device: str, seq: int, synthetic: bool) -> str:
    """The collector's own file name stem of a frame, unique in any export: the device (made
    file-safe) and the sequence number (counted down from -1 for synthetic frames, written as ``synthetic-<n>``)."""
    if synthetic:
        return f"{safe_name(device)}-synthetic-{-seq:08d}"
    return f"{safe_name(device)}-{seq:08d}"


def source_stem(source_file: str | None) -> str | None:
    """The file name stem an imported frame's source file gives it (made file-safe), or None."""
    return safe_name(PurePath(source_file).stem) if source_file else None


def kept_where_unique(preferred: Mapping[int, T | None], fallback: Mapping[int, T],
                      key: Callable[[T], Hashable] = lambda value: value) -> dict[int, T]:
    """Per frame id, its ``preferred`` value where no other frame ends up with the same ``key``,
    else its ``fallback`` (fallback values must be unique among themselves)."""
    chosen = {frame_id: fallback[frame_id] if value is None else value for frame_id, value in preferred.items()}
    while True:  # each round moves at least one frame to its fallback, so this ends
        counts = Counter(key(value) for value in chosen.values())
        clashing = [frame_id for frame_id, value in chosen.items()
                    if counts[key(value)] > 1 and value != fallback[frame_id]]
        if not clashing:
            return chosen
        for frame_id in clashing:
            chosen[frame_id] = fallback[frame_id]
