"""Image files of a folder, and the stable sequence number of each."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from edge.contract.files import IMAGE_SUFFIXES
from edge.contract.wire import WireError, jpeg_size
from server.importers.dataset import Dataset, DatasetImportError, ImportedImage


def image_files(root: Path) -> list[Path]:
    """Every image under ``root``, sorted by relative path."""
    if not root.is_dir():
        raise DatasetImportError(f"not a folder: {root}")
    return sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: p.relative_to(root).as_posix())


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file: from the JPEG header when it is one, else by decoding it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return jpeg_size(data)
    except WireError:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetImportError(f"{path} is not an image OpenCV can read") from None
        return image.shape[1], image.shape[0]


def path_seq(root: Path, path: Path) -> int:
    """A sequence number from the file's path in the dataset (63 bits of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()[:8], "big") >> 1


def read_image_folder(root: Path, name: str) -> Dataset:
    """Images without labels: they enter the review queue with no pre-labels."""
    files = image_files(root)
    if not files:
        raise DatasetImportError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    images = [ImportedImage(path, seq=path_seq(root, path), frame_index=index) for index, path in enumerate(files)]
    return Dataset("images", name, ("object",), images)
