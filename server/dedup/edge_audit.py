"""Checking the perceptual hash each device sends against the one the collector computes.

The edge hashes the raw frame, the collector the JPEG it received (at 1/8 scale); measured on the
shared clips the two differ by at most 2 bits, while an unrelated hash differs by about 32. A
device whose hashes disagree often is flagged: a broken or tampered agent, or one hashing other
pixels than it sends. The collector never relies on the edge's hash either way.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import Connection, text

log = logging.getLogger("server.dedup")

EDGE_HASH_TOLERANCE = 10
"""Bits by which the edge's hash may differ from the collector's before it counts as a disagreement."""

FLAG_MIN_FRAMES = 10
FLAG_SHARE = 0.2
"""A device is flagged once at least FLAG_MIN_FRAMES of its frames were checked and more than
this share of them disagreed."""


class EdgeHashAudit:
    """Per-device counts of checked and disagreeing hashes, written with each ingest batch."""

    def __init__(self) -> None:
        self._pending: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # checked, disagreed, last distance
        self._warned: set[str] = set()

    def note(self, device: str, distance: int) -> None:
        counts = self._pending[device]
        counts[0] += 1
        counts[1] += distance > EDGE_HASH_TOLERANCE
        counts[2] = distance

    def write(self, conn: Connection, now: float) -> None:
        """Add the noted counts to ``device_hash_checks`` (inside the caller's transaction)."""
        for device, (checked, disagreed, last_distance) in self._pending.items():
            conn.execute(text(
                "INSERT INTO device_hash_checks (device, checked, disagreed, last_distance, last_disagreement_at)"
                " VALUES (:device, :checked, :disagreed, :last_distance, :last_at) ON CONFLICT (device) DO UPDATE SET"
                " checked = device_hash_checks.checked + excluded.checked,"
                " disagreed = device_hash_checks.disagreed + excluded.disagreed,"
                " last_distance = excluded.last_distance,"
                " last_disagreement_at = COALESCE(excluded.last_disagreement_at,"
                " device_hash_checks.last_disagreement_at)"),
                {"device": device, "checked": checked, "disagreed": disagreed, "last_distance": last_distance,
                 "last_at": now if disagreed else None},
            )
        self._warn_about_flagged(conn)

    def forget(self) -> None:
        """Drop the noted counts (after the batch committed, or when it was rolled back)."""
        self._pending.clear()

    def _warn_about_flagged(self, conn: Connection) -> None:
        for device in self._pending:
            if device in self._warned:
                continue
            checked, disagreed = conn.execute(text(
                "SELECT checked, disagreed FROM device_hash_checks WHERE device = :device"), {"device": device}
            ).one()
            if is_flagged(checked, disagreed):
                self._warned.add(device)
                log.warning("device %r sends perceptual hashes that disagree with its images (%d of %d frames); "
                            "its agent may be broken or tampered with", device, disagreed, checked)


def is_flagged(checked: int, disagreed: int) -> bool:
    return checked >= FLAG_MIN_FRAMES and disagreed > FLAG_SHARE * checked


def hash_checks(conn: Connection) -> dict[str, dict]:
    """Every device's counts, with ``flagged``; JSON-ready."""
    return {
        device: {"checked": checked, "disagreed": disagreed, "last_distance": last_distance,
                 "last_disagreement_at": last_at, "flagged": is_flagged(checked, disagreed)}
        for device, checked, disagreed, last_distance, last_at in conn.execute(text(
            "SELECT device, checked, disagreed, last_distance, last_disagreement_at FROM device_hash_checks ORDER BY device"
        ))
    }
