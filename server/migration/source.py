"""The collector being moved: its data directory, opened read-only, and only while nobody else has it open.

A ``serve`` still writing while rows are copied would leave the target a mix of two moments, so
the migration refuses to start while another process has the source database open. SQLite (in
WAL mode, as the collector keeps it) has every connection hold a shared lock on one byte of the
``-shm`` file, its "dead man switch"; asking the kernel who would block a write lock on that byte
(``F_GETLK``, which takes no lock itself) names such a process without disturbing it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
from pathlib import Path

from server.db import DB_FILENAME, Database, open_database
from server.media import MEDIA_DIRNAME, MediaStore
from server.migration.errors import MigrationError

_DEAD_MAN_SWITCH = 128
"""The -shm byte every connection read-locks: ``UNIX_SHM_DMS`` in SQLite's os_unix.c (120 + 8 lock slots)."""

_FLOCK = "hhqqi4x"
"""Linux's ``struct flock``: l_type, l_whence, l_start, l_len, l_pid (padded to its 32 bytes)."""


def open_source(data_dir: Path) -> tuple[Database, MediaStore]:
    """The source's database (read-only) and media folder; :class:`MigrationError` while it is in use."""
    data_dir = Path(data_dir)
    database_path = data_dir / DB_FILENAME
    if not database_path.is_file():
        raise MigrationError(f"no embedded collector in {data_dir} (expected {database_path})")
    holder = process_holding(database_path)
    if holder is not None:
        raise MigrationError(f"{database_path} is open in process {holder} (a running 'serve', or another "
                             "command): stop it first, so the copy is of one consistent moment")
    return open_database(data_dir, "readonly"), MediaStore(data_dir / MEDIA_DIRNAME)


def process_holding(database_path: Path) -> int | None:
    """The id of another process that has the SQLite database open, or None (also where the lock cannot be asked)."""
    if not sys.platform.startswith("linux"):
        return None  # struct flock is laid out differently elsewhere
    try:
        fd = os.open(f"{database_path}-shm", os.O_RDONLY)
    except OSError:
        return None  # no shared-memory file: no connection has the database open in WAL mode
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _DEAD_MAN_SWITCH, 1, 0)
        lock_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if lock_type == fcntl.F_UNLCK else pid
