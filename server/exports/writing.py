"""Writing an export atomically and deterministically.

An export is built in a temporary directory beside ``--out`` and renamed into place at the end,
so an interrupted export (a crash, Ctrl-C, a full disk) leaves either the previous export or
nothing, never a half-written dataset. An existing ``--out`` is replaced only when it is empty
or an earlier edgelabel export (it holds :data:`MARKER`), so a typo cannot wipe a directory.

Files are written in frame-id order, JSON with a fixed key order and XML with fixed attribute
order, so the same data gives the same bytes. The only timestamps are in :data:`MARKER` and
where a format has a field for one (COCO ``info.date_created``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.errors import StoreError
from server.exports.errors import ExportError
from server.media import MediaBackend, MediaMissingError

MARKER = ".edgelabel-export.json"
"""Written at the top of every export: what it holds and when it was made."""


@contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """A fresh temporary directory that becomes ``out`` when the block ends without an error."""
    out = Path(out).absolute()
    if out.exists():
        _check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot create the export next to {out}: {exc.strerror or exc}") from None
    try:
        yield temp
        _swap_into_place(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _check_replaceable(out: Path) -> None:
    if not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a directory")
    if any(out.iterdir()) and not (out / MARKER).is_file():
        raise ExportError(f"--out {out} exists and is not an edgelabel export; choose a new or empty directory")


def _swap_into_place(temp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(temp, out)
        return
    # Two renames: the old export stays whole until the new one is in place.
    old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    os.rename(out, old)
    try:
        os.rename(temp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, document: object) -> None:
    """UTF-8 JSON, keys in the order the document was built, one trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class StoredImage:
    """A frame's JPEG in the collector's media store (a local folder or a bucket)."""

    media: MediaBackend
    sha256: str


def place_image(image: StoredImage, target: Path, link: bool) -> None:
    """Put a stored JPEG into the export: a hard link when asked and possible, else a copy.

    Links save space but share the file with the store: editing a linked image in place would
    change the stored one, so copying is the default. From an object store the bytes are
    streamed into the file, so a large export never holds more than one chunk in memory.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    source = image.media.local_path(image.sha256)
    if source is None:
        _download(image, target)
        return
    try:
        if link:
            try:
                os.link(source, target)
                return
            except OSError:
                pass  # another file system, or links not allowed: copy instead
        shutil.copyfile(source, target)
    except FileNotFoundError:
        raise ExportError(f"stored image {source} is missing; the data directory is damaged") from None
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None


def place_png(image: StoredImage, target: Path) -> None:
    """Write a stored JPEG as a PNG of the same pixels, for readers that expect ``.png`` names
    (CVAT for video). PNG is lossless: the pixels are those any reader decodes from the JPEG."""
    import cv2  # the collector has OpenCV; only this writer needs it
    import numpy as np

    try:
        jpeg = image.media.get(image.sha256)
    except MediaMissingError:
        raise ExportError(f"stored image {image.sha256} is missing from {image.media.location};"
                          " the media store is damaged") from None
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    pixels = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ExportError(f"stored image {image.sha256} is not a readable JPEG; the media store is damaged")
    ok, png = cv2.imencode(".png", pixels)
    if not ok:
        raise ExportError(f"cannot encode {target.name} as PNG")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.write_bytes(png.tobytes())
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None


def _download(image: StoredImage, target: Path) -> None:
    try:
        chunks = image.media.stream(image.sha256)
        with target.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
    except MediaMissingError:
        raise ExportError(f"stored image {image.sha256} is missing from {image.media.location};"
                          " the media store is damaged") from None
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None


def rounded(value: float, digits: int = 2) -> float:
    """Pixel coordinates to a hundredth: finer than any label, and free of float noise in the bytes."""
    result = round(float(value), digits)
    return 0.0 if result == 0 else result  # no "-0.0"
