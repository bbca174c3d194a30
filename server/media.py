"""Content-addressed JPEG storage: ``<data_dir>/media/ab/cd/<sha256>.jpg``.

A file's name is the SHA-256 of its bytes, so identical images are stored once and a name can
never point at other content. Files are written durably (temp file, fsync, rename, fsync of the
directory) because the collector acknowledges a frame to the edge only after its image is on disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from server.errors import StoreError

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class MediaStore:
    """JPEG files under ``root`` (the data directory's ``media/`` folder), named by their SHA-256."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this digest lives. Touches no disk.

        Raises :class:`StoreError` unless ``sha256`` is 64 lowercase hex digits, so a name that
        came from a URL or a database row can never escape ``root`` (``..``, ``/``, NUL).
        """
        if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
            raise StoreError(f"invalid media id {sha256!r:.80}: expected 64 lowercase hex digits")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, jpeg: bytes) -> str:
        """Store ``jpeg`` durably and return its SHA-256 hex digest (see :meth:`put_many`)."""
        return self.put_many([jpeg])[0]

    def put_many(self, jpegs: list[bytes]) -> list[str]:
        """Store several JPEGs durably; their SHA-256 hex digests, in order.

        An existing file with a digest is left alone: same name means same bytes. All new files
        are written first and fsynced after, then renamed into place and their directories
        fsynced once each: the file system can then commit the batch's data in one journal
        transaction instead of one per file, which is what makes a batch cheap.
        """
        digests = [hashlib.sha256(jpeg).hexdigest() for jpeg in jpegs]
        pending: dict[Path, tuple[Path, bytes]] = {}  # final path -> (temp path, bytes)
        try:
            for sha256, jpeg in zip(digests, jpegs):
                path = self.path_for(sha256)
                if path in pending or _whole_file_exists(path, len(jpeg)):
                    continue
                _make_dirs_durably(path.parent)
                pending[path] = (_write_temp(path, jpeg), jpeg)
            for temp, _ in pending.values():
                _fsync_file(temp)
            for path, (temp, _) in pending.items():
                os.replace(temp, path)
            for directory in {path.parent for path in pending}:
                _fsync_dir(directory)
        except OSError as exc:
            for temp, _ in pending.values():
                temp.unlink(missing_ok=True)
            raise StoreError(f"cannot write media files under {self.root}: {exc.strerror or exc}") from exc
        return digests


def _whole_file_exists(path: Path, size: int) -> bool:
    try:
        # Files only ever appear whole (rename), so a size mismatch means outside damage: rewrite.
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return tmp


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs_durably(directory: Path) -> None:
    """Create ``directory`` and missing parents, fsyncing each parent that gains an entry.

    Without the parent fsync a power cut can lose a new ``ab/cd/`` directory and the
    already-acknowledged file inside it.
    """
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for new_dir in reversed(missing):
        try:
            new_dir.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(new_dir.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
