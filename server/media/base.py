"""What every media store offers: content-addressed JPEGs, named by the SHA-256 of their bytes.

Two stores implement it: :class:`server.media.local.MediaStore` (files under the data directory's
``media/``, the default) and :class:`server.media.s3.S3MediaStore` (objects in an S3-compatible
bucket). Both lay names out the same way, ``ab/cd/<sha256>.jpg``, and both make a batch durable in
:meth:`MediaBackend.put_many` before it returns, because the collector commits a frame's row and
acknowledges it only after its image is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from server.errors import StoreError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class MediaMissingError(StoreError):
    """No stored image has this digest."""


def checked_digest(sha256: object) -> str:
    """``sha256`` if it is 64 lowercase hex digits, else :class:`StoreError`.

    A name that came from a URL or a database row can then never escape the store (``..``, ``/``, NUL).
    """
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise StoreError(f"invalid media id {sha256!r:.80}: expected 64 lowercase hex digits")
    return sha256


def relative_name(sha256: str) -> str:
    """``ab/cd/<sha256>.jpg``: where an image lives below a store's root or key prefix."""
    sha256 = checked_digest(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


@dataclass(frozen=True)
class StoredObject:
    """One stored image, as listed by :meth:`MediaBackend.iter_objects`."""

    sha256: str
    size: int
    modified: float
    """Unix seconds of its last write: ``media gc`` keeps young objects of a batch still in flight."""


class MediaBackend(Protocol):
    """The media interface; ``location`` names the store in messages."""

    location: str

    def put_many(self, jpegs: list[bytes]) -> list[str]:
        """Store the JPEGs durably; their SHA-256 hex digests, in order."""

    def put(self, jpeg: bytes) -> str:
        """Store one JPEG durably; its SHA-256 hex digest."""

    def get(self, sha256: str) -> bytes:
        """The image's bytes; :class:`MediaMissingError` when there is none."""

    def stream(self, sha256: str, chunk_size: int = 65536) -> Iterator[bytes]:
        """The image's bytes in chunks (checks it exists before yielding anything)."""

    def exists(self, sha256: str) -> bool: ...

    def local_path(self, sha256: str) -> Path | None:
        """The image's file when the store is a local folder (exports may hard-link it), else None."""

    def iter_objects(self) -> Iterator[StoredObject]:
        """Every stored image, in no particular order."""

    def delete(self, sha256: str) -> None:
        """Remove the image; removing one that is gone is not an error."""

    def check(self) -> None:
        """Raise :class:`StoreError` unless the store can be reached (``check-config``)."""

    def close(self) -> None: ...
