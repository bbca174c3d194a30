"""Atomic file writes: a reader, or the next start after a crash or power cut, sees the old file
or the new one, never part of either.

The data goes to a temporary file in the same directory (so the rename cannot cross file
systems), is fsynced, renamed over the target, and the directory is fsynced so the rename itself
is durable. If anything fails first, the temporary file is removed and the target is untouched.
Standard library only: both sides use it, and the list of picture suffixes they read folders for.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""The picture files an image folder is read for, by the agent and by ``import`` alike (OpenCV decodes each)."""


@contextmanager
def atomic_file(path: str | Path, mode: int | None = None, encoding: str | None = None) -> Iterator[IO]:
    """A file to write that becomes ``path`` when the block ends without an exception.

    ``mode``: permission bits of the new file (e.g. ``0o600`` for secrets), subject to the umask
    like :func:`os.open`; it has them from its creation, so the data is never readable by others
    in between. ``None``: an ordinary file's (0o666 less the umask). The file is binary unless an
    ``encoding`` is given.
    """
    path = Path(path)
    # A random name, created exclusively: two writers of the same file cannot clobber each
    # other's temporary file; the last rename wins whole.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with open(fd, "w" if encoding else "wb", encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically and durably (see :func:`atomic_file` for ``mode``)."""
    with atomic_file(path, mode) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically and durably (see :func:`atomic_file` for ``mode``)."""
    with atomic_file(path, mode, encoding) as handle:
        handle.write(text)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
