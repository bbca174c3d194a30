"""Private file modes for what the collector keeps: its data directory 0700, secrets and the
database 0600 (issue 20). The database holds password hashes and session CSRF tokens; ``keys/``
holds the collector's secret key.

New files get these modes when created; :func:`loose_modes` finds older ones left looser, which
``serve`` names in a warning at start (it does not chmod them behind the operator's back).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with the data directory's mode; an existing one stays as is."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` readable by its owner only (SQLite then gives its WAL files the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))


def loose_modes(data_dir: Path, database_file: str) -> list[tuple[Path, int, int]]:
    """(path, its mode, the mode expected) of each private path of ``data_dir`` that others may read:
    the directory, the SQLite ``database_file`` with its WAL files, and the keys."""
    data_dir = Path(data_dir)
    expected = [(data_dir, PRIVATE_DIR_MODE)]
    expected += [(data_dir / (database_file + suffix), PRIVATE_FILE_MODE) for suffix in ("", "-wal", "-shm")]
    keys = data_dir / "keys"
    expected += [(keys, PRIVATE_DIR_MODE)] + [(path, PRIVATE_FILE_MODE) for path in sorted(keys.glob("*.json"))]
    loose = []
    for path, wanted in expected:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            loose.append((path, mode, wanted))
    return loose
