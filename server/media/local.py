"""Content-addressed JPEG files: ``<data_dir>/media/ab/cd/<sha256>.jpg`` (the default media store).

A file's name is the SHA-256 of its bytes, so identical images are stored once and a name can
never point at other content. Files are written durably (temp file, rename, then synced to disk
with their directories) because the collector acknowledges a frame to the edge only after its
image is on disk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from server.errors import StoreError, StoreUnavailableError
from server.media.base import (
    MediaMissingError,
    StoredObject,
    checked_digest,
    relative_name,
)


class MediaStore:
    """JPEG files under ``root`` (the data directory's ``media/`` folder), named by their SHA-256."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = str(self.root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this digest lives. Touches no disk.

        Raises :class:`StoreError` unless ``sha256`` is 64 lowercase hex digits, so a name that
        came from a URL or a database row can never escape ``root`` (``..``, ``/``, NUL).
        """
        return self.root / relative_name(sha256)

    local_path = path_for

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def get(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise MediaMissingError(f"no stored image {sha256} in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def stream(self, sha256: str, chunk_size: int = 65536) -> Iterator[bytes]:
        path = self.path_for(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise MediaMissingError(f"no stored image {sha256} in {self.root}") from None
        return _chunks(handle, chunk_size)

    def iter_objects(self) -> Iterator[StoredObject]:
        for directory, _, names in os.walk(self.root):
            for name in names:
                sha256 = name[:-4] if name.endswith(".jpg") else ""
                try:
                    checked_digest(sha256)
                    stat = os.stat(os.path.join(directory, name))
                except (StoreError, FileNotFoundError):
                    continue  # a temp file of a batch in flight, or something that is not ours
                yield StoredObject(sha256, stat.st_size, stat.st_mtime)

    def delete(self, sha256: str) -> None:
        try:
            self.path_for(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot remove {self.path_for(sha256)}: {exc.strerror or exc}") from exc

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"media folder {self.root} is not a directory")

    def close(self) -> None:
        pass

    def put(self, jpeg: bytes) -> str:
        """Store ``jpeg`` durably and return its SHA-256 hex digest (see :meth:`put_many`)."""
        return self.put_many([jpeg])[0]

    def put_many(self, jpegs: list[bytes]) -> list[str]:
        """Store several JPEGs durably; their SHA-256 hex digests, in order.

        An existing file with a digest is left alone: same name means same bytes. New files are
        written under temporary names and renamed into place, then made durable together: on
        Linux with one ``syncfs`` of the media file system (one journal commit for the whole
        batch, about 5x cheaper than an fsync per file and per directory), elsewhere by an fsync
        of each file and each directory that gained an entry.
        """
        digests = [hashlib.sha256(jpeg).hexdigest() for jpeg in jpegs]
        pending: dict[Path, Path] = {}  # final path -> temp path
        try:
            for sha256, jpeg in zip(digests, jpegs):
                path = self.path_for(sha256)
                if path in pending or _whole_file_exists(path, len(jpeg)):
                    continue
                if _SYNCFS is None:
                    _make_dirs_durably(path.parent)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)  # made durable by the syncfs below
                pending[path] = _write_temp(path, jpeg)
            if not pending:
                return digests
            if _SYNCFS is None:
                for temp in pending.values():
                    _fsync_file(temp)
            for path, temp in pending.items():
                os.replace(temp, path)
            if _SYNCFS is None:
                for directory in {path.parent for path in pending}:
                    _fsync_dir(directory)
            else:
                _syncfs(self.root)
        except OSError as exc:
            # Nothing of a failed batch may stay: a later put of the same bytes would take a file
            # that never reached the disk for a durable one.
            for path, temp in pending.items():
                temp.unlink(missing_ok=True)
                path.unlink(missing_ok=True)
            raise StoreUnavailableError(f"cannot write media files under {self.root}: {exc.strerror or exc}") from exc
        return digests


def _chunks(handle, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _load_syncfs():
    """libc's syncfs(2) where there is one (Linux), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def _syncfs(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


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
