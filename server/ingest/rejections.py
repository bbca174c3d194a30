"""Counts of rejected messages, buffered so a flood of bad messages costs one commit per second."""

from __future__ import annotations

import time

from sqlalchemy import Connection, text

from edge.contract.wire import REJECTION_CODES
from server.stats import UNKNOWN_DEVICE

MAX_DETAIL_CHARS = 500

REJECTION_FLUSH_SECONDS = 1.0
"""Rejection counts are buffered in memory at most this long (or until the next stored batch).
A flood of malformed messages then costs one commit per second, not one fsync per message; a
crash can lose at most this window of counts, never a frame."""

MAX_PENDING_REJECTIONS = 1000
"""Flush earlier when this many (device, code) pairs are waiting."""

_UPSERT = text(
    "INSERT INTO rejections (device, code, count, last_detail, last_at)"
    " VALUES (:device, :code, :count, :last_detail, :last_at)"
    " ON CONFLICT (device, code) DO UPDATE SET count = rejections.count + excluded.count,"
    " last_detail = excluded.last_detail, last_at = excluded.last_at")


class RejectionBuffer:
    """(device, code) -> [count, last detail, last time] not yet written. Not thread-safe: the
    writer's lock guards it."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], list] = {}
        self._last_flush = time.monotonic()

    def add(self, device: str | None, code: str, detail: str) -> bool:
        """Count one rejection; True when the buffer should be written now."""
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}, expected one of {REJECTION_CODES}")
        key = (device or UNKNOWN_DEVICE, code)
        detail = detail[:MAX_DETAIL_CHARS]
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [1, detail, time.time()]
        else:
            pending[0] += 1
            pending[1:] = [detail, time.time()]
        return (time.monotonic() - self._last_flush >= REJECTION_FLUSH_SECONDS
                or len(self._pending) >= MAX_PENDING_REJECTIONS)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def write(self, conn: Connection) -> None:
        """Add the buffered counts (inside the caller's transaction); :meth:`written` once it committed."""
        if self._pending:
            conn.execute(_UPSERT, [
                {"device": device, "code": code, "count": count, "last_detail": detail, "last_at": at}
                for (device, code), (count, detail, at) in self._pending.items()])

    def written(self) -> None:
        """Forget the buffer once the transaction that wrote it has committed."""
        self._pending.clear()
        self._last_flush = time.monotonic()
