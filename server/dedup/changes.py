"""Several ingest nodes on one database: each node's duplicate index stays a cache of the database.

Every node keeps the group representatives in memory (:class:`server.dedup.engine.Deduplicator`),
built from the database at start. What other nodes change afterwards reaches it through the
``dedup_index_changes`` table (migration ``0009``): every add to or removal from the index is
appended there in the transaction that makes it (:meth:`ChangeFeed.append`), and every ingest
transaction begins by applying the rows other nodes wrote since it last looked
(:meth:`ChangeFeed.unseen`): one indexed query per batch.

Two near-duplicates arriving at two nodes at the same instant must not both found a group. The
decisions are **serialized by dedup scope**, not resolved after the fact: on PostgreSQL each
ingest transaction first takes a transaction-scoped advisory lock (:meth:`ChangeFeed.lock`) on
each device of its batch, or on one key for all devices when :attr:`DedupPolicy.across_devices`
says frames of any device can be duplicates of each other; then it reads the changes, decides and
commits, and the lock ends with the transaction. The next node waiting for the lock then sees
that commit (READ COMMITTED), applies it and decides against it. On SQLite, ``BEGIN IMMEDIATE``
serializes every writer already. Resolving afterwards would need a sweep that merges groups whose
representatives collide, with reviews possibly already done on both; waiting for one transaction
of the same camera is cheaper and leaves nothing to repair.

(The ``devices`` row that ingest upserts is locked until the commit too. That alone would
serialize one device's decisions only if the changes were read after the upsert, it does nothing
for the across-devices scope, and batches of several devices lock those rows in arrival order, so
two of them can deadlock. The advisory locks, taken first thing and in key order, cover all three;
a test without them (tests/server/test_multinode.py) gets two representatives within a few tries.)

Why the feed can read by "id greater than the last one seen": a change of a device is only written
by a transaction holding that device's lock (or the one lock of all devices), so when a node holds
it, every earlier change of that scope is committed and has a smaller id (identity values are
handed out in insertion order: the column has the default sequence cache of 1). The last id is
kept per device (one counter for the across-devices scope). The start is the largest id per device
of the snapshot the index was loaded from, so nothing committed after the load is missed.

Exact copies (same JPEG bytes) are looked up in the database, not the index; two byte-identical
frames of two *different* devices reaching two nodes at the same instant can still both be
stored as representatives unless ``across_devices`` is on. All nodes must share one dedup policy.
"""

from __future__ import annotations

import os
import secrets
import socket
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, text

from server.db.hot_path import HotStatement
from server.dedup.frame_signature import from_sqlite_int, to_sqlite_int

LOCK_SPACE_DEVICE = 0x6564_6401
"""Advisory lock namespace (first key) of the per-device scopes; the second key is a hash of the device."""
LOCK_SPACE_ALL_DEVICES = 0x6564_6402
"""Advisory lock namespace of the single scope used when duplicates are looked for across devices."""

_APPEND = HotStatement(
    "INSERT INTO dedup_index_changes (action, frame_id, block_hash, device, capture_ts, node)"
    " VALUES (:action, :frame_id, :block_hash, :device, :capture_ts, :node)")
_COLUMNS = "id, action, frame_id, block_hash, device, capture_ts, node"
_SINCE_ANY = HotStatement(f"SELECT {_COLUMNS} FROM dedup_index_changes WHERE id > :last ORDER BY id")
# The keys are sorted (in Python and again here) so that two batches never wait for each other in a cycle.
_LOCK = text("SELECT pg_advisory_xact_lock(:space, k) FROM"
             " (SELECT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS ordered")


@dataclass(frozen=True)
class IndexChange:
    """One row of ``dedup_index_changes``."""

    id: int
    action: str
    """``add``: the frame became a group representative; ``remove``: it no longer is one."""
    frame_id: int
    block_hash: int
    """Unsigned, as the index keys it."""
    device: str
    capture_ts: float


class ChangeFeed:
    """This node's position in the change log, and the log's three operations; see the module docstring."""

    def __init__(self, across_devices: bool, node: str | None = None):
        self.across_devices = across_devices
        self.node = node or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        """Written with every change this process makes, so it can skip them when reading."""
        self._last_by_device: dict[str, int] = {}
        self._last_of_all = 0

    def start(self, conn: Connection) -> None:
        """Where to read from: call in the snapshot the index is loaded from."""
        if self.across_devices:
            self._last_of_all = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM dedup_index_changes")).scalar_one()
        else:
            self._last_by_device = dict(conn.execute(text(
                "SELECT device, MAX(id) FROM dedup_index_changes GROUP BY device")).all())

    def lock(self, conn: Connection, devices: Iterable[str]) -> None:
        """Wait until no other transaction decides on these devices' duplicates (PostgreSQL; until the commit)."""
        if conn.dialect.name != "postgresql":
            return  # SQLite: this write transaction (BEGIN IMMEDIATE) holds the whole database
        if self.across_devices:
            space, keys = LOCK_SPACE_ALL_DEVICES, [0]
        else:
            space, keys = LOCK_SPACE_DEVICE, sorted({_lock_key(device) for device in devices})
        conn.execute(_LOCK, {"space": space, "keys": keys})

    def unseen(self, conn: Connection, devices: Iterable[str]) -> list[IndexChange]:
        """Other nodes' changes of these devices' scope not read yet, oldest first (after :meth:`lock`)."""
        if self.across_devices:
            rows = _SINCE_ANY.execute(conn, {"last": self._last_of_all}).fetchall()
            if rows:
                self._last_of_all = rows[-1][0]
        else:
            devices = sorted(set(devices))
            if not devices:
                return []
            params = {}
            for number, device in enumerate(devices):
                params[f"device{number}"] = device
                params[f"last{number}"] = self._last_by_device.get(device, 0)
            rows = _since_by_device(len(devices)).execute(conn, params).fetchall()
            for row in rows:
                self._last_by_device[row[4]] = row[0]
        return [IndexChange(row[0], row[1], row[2], from_sqlite_int(row[3]), row[4], row[5])
                for row in rows if row[6] != self.node]

    def append(self, conn: Connection, action: str, frame_id: int, block_hash: int, device: str,
               capture_ts: float) -> None:
        """Record a change of the index (in the transaction that makes it)."""
        _APPEND.execute(conn, {"action": action, "frame_id": frame_id, "block_hash": to_sqlite_int(block_hash),
                               "device": device, "capture_ts": capture_ts, "node": self.node})


@lru_cache(maxsize=64)
def _since_by_device(count: int) -> HotStatement:
    """Changes of ``count`` devices after each one's last id read (parameters ``device<n>``, ``last<n>``)."""
    scopes = " OR ".join(f"(device = :device{n} AND id > :last{n})" for n in range(count))
    return HotStatement(f"SELECT {_COLUMNS} FROM dedup_index_changes WHERE {scopes} ORDER BY id")


def _lock_key(device: str) -> int:
    """A device's second advisory lock key (signed 32-bit; two devices sharing one only wait for each other)."""
    return zlib.crc32(device.encode()) - 2**31
