"""The on-device spool: frame messages wait here, durably, until the collector acknowledges them.

One SQLite file (standard library only) in WAL mode with ``synchronous=FULL``: a frame is in the
spool once ``add`` returns, and a power cut can neither lose it nor corrupt the file. The spool
also owns the device's sequence numbers, so they never repeat across restarts.

The spool is bounded by the bytes it holds. When a new frame would overflow it, frames are
evicted lowest priority first and, among equal priorities, oldest first; every eviction is
counted (persistently) and logged. It also remembers the highest track id any spooled frame
carried, so a restarted agent numbers its tracks after it (:attr:`Spool.next_track_id`). The
spool belongs to one device: opening it for another is an
error, since its frames carry the first device's name.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from edge.contract.errors import ConfigError
from edge.contract.wire import NO_TRACK, FrameHeader, encode_frame

log = logging.getLogger("edge.spool")

SPOOL_FILENAME = "spool.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value ANY) STRICT;
CREATE TABLE IF NOT EXISTS frames (
    seq INTEGER PRIMARY KEY,
    priority REAL NOT NULL,
    spooled_at REAL NOT NULL,
    header BLOB NOT NULL,
    jpeg BLOB NOT NULL,
    bytes INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS frames_eviction_order ON frames (priority, seq);
"""


class Spool:
    def __init__(self, directory: str | Path, device: str, max_bytes: int, first_seq: Callable[[], int]):
        """
        Args:
            directory: where ``spool.db`` lives (created if missing).
            device: the device whose frames this spool holds.
            max_bytes: most JPEG + header bytes held. Larger rides out longer outages on a
                device with room to spare; smaller protects a small disk, losing the least
                important frames of a long outage first.
            first_seq: the first sequence number of a new spool. Use one above anything this
                device ever sent (e.g. the clock in microseconds), so a lost spool file cannot
                make the collector mistake new frames for ones it already has.
        """
        if max_bytes < 1024 * 1024:
            raise ConfigError(f"spool size must be at least 1 MiB, got {max_bytes} bytes")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.directory / SPOOL_FILENAME, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the spool in {self.directory}: {exc}") from None
        owner = self._meta("device")
        if owner is None:
            with self._transaction():
                self._set_meta("device", device)
                seq = int(first_seq())
                self._set_meta("first_seq", seq)  # with next_seq: every number this spool handed out
                self._set_meta("next_seq", seq)
                self._set_meta("evicted_total", 0)
        elif owner != device:
            raise ConfigError(f"the spool in {self.directory} belongs to device {owner!r}, not {device!r}")
        self.device = device
        self.count, self.bytes = self._db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM frames").fetchone()
        self.evicted_total = int(self._meta("evicted_total"))
        if self.count:
            log.info("spool %s holds %d frame(s) (%.1f MB) from an earlier run; they go first",
                     self.directory, self.count, self.bytes / 1e6)

    @property
    def next_seq(self) -> int:
        return int(self._meta("next_seq"))

    @property
    def first_seq(self) -> int:
        return int(self._meta("first_seq"))

    @property
    def next_track_id(self) -> int:
        """One above the highest track id of any frame this spool took (1 for a new spool).

        The collector knows a track as (device, track id); an agent that starts its tracker here
        never reuses an id it sent before. Only a lost spool file restarts the numbering."""
        return int(self._meta("next_track_id") or 1)

    def add(self, header: FrameHeader, jpeg: bytes) -> tuple[int, list[int]]:
        """Store a frame under the next sequence number (``header.seq`` is replaced).

        Returns the sequence number and the ones evicted to make room (possibly this frame's own,
        when it is the least important). Durable when this returns.
        """
        try:
            return self._add(header, jpeg)
        except BaseException:
            # The transaction rolled back: re-read the totals it had already moved.
            self.count, self.bytes = self._db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM frames").fetchone()
            raise

    def _add(self, header: FrameHeader, jpeg: bytes) -> tuple[int, list[int]]:
        with self._transaction():
            seq = int(self._meta("next_seq"))
            parts = encode_frame(replace(header, seq=seq), jpeg)
            size = len(parts[0]) + len(parts[1])
            self._db.execute(
                "INSERT INTO frames (seq, priority, spooled_at, header, jpeg, bytes) VALUES (?, ?, ?, ?, ?, ?)",
                (seq, header.priority, time.time(), parts[0], parts[1], size),
            )
            self._set_meta("next_seq", seq + 1)
            highest_track_id = max(header.labels.track_id, default=NO_TRACK)
            if highest_track_id >= self.next_track_id:
                self._set_meta("next_track_id", highest_track_id + 1)
            self.count += 1
            self.bytes += size
            evicted = self._evict_over_bound()
        for victim in evicted:
            log.warning("spool full (%.1f MB): evicted frame seq=%d (lowest priority, oldest); %d evicted in all",
                        self.max_bytes / 1e6, victim, self.evicted_total)
        return seq, evicted

    def after(self, seq: int, limit: int) -> list[tuple[int, list[bytes]]]:
        """Up to ``limit`` spooled messages with a sequence number above ``seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, header, jpeg FROM frames WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(row[0], [row[1], row[2]]) for row in rows]

    def remove(self, seqs: list[int]) -> None:
        """Forget answered frames (one transaction). Losing this write to a power cut only means
        the frames are sent again and the collector answers 'duplicate'."""
        if not seqs:
            return
        with self._transaction():
            marks = ",".join("?" * len(seqs))
            removed, size = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM frames WHERE seq IN ({marks})", seqs
            ).fetchone()
            self._db.execute(f"DELETE FROM frames WHERE seq IN ({marks})", seqs)
        self.count -= removed
        self.bytes -= size

    def close(self) -> None:
        self._db.close()

    def _evict_over_bound(self) -> list[int]:
        evicted = []
        while self.bytes > self.max_bytes and self.count:
            seq, size = self._db.execute(
                "SELECT seq, bytes FROM frames ORDER BY priority, seq LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM frames WHERE seq = ?", (seq,))
            self.count -= 1
            self.bytes -= size
            self.evicted_total += 1
            evicted.append(seq)
        if evicted:
            self._set_meta("evicted_total", self.evicted_total)
        return evicted

    def _meta(self, key: str):
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, value))

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (the connection runs in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self):
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
