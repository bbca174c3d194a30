"""One connection of the web layer's own (track verdicts, dashboard), shared by threads under a lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.errors import StoreError
from server.store import open_second_writer


class WebDatabase:
    def __init__(self, data_dir: Path):
        self.conn = open_second_writer(Path(data_dir))
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several SELECTs on one snapshot."""
        with self._lock, _store_errors():
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction that takes the lock up front (waits for the ingest thread)."""
        with self._lock, _store_errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.Error as exc:
        raise StoreError(f"web database: {exc}") from exc
