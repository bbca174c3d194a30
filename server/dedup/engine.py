"""Deciding at ingest whether a new frame repeats a stored one, and recording the decision.

Runs on the ingest thread inside the batch's write transaction (see :meth:`server.ingest.writer.IngestWriter.ingest_frames`):

1. **Exact**: a frame whose JPEG bytes (SHA-256) were stored before, from any device at any time,
   is a duplicate of the first frame with those bytes (distance 0).
2. **Near**: the group representatives within :attr:`DedupPolicy.max_key_distance` bits of the
   frame's block hash (:mod:`server.dedup.hash_index`), of the same device unless
   :attr:`DedupPolicy.across_devices`, captured within the time window, nearest first, are
   compared thumbnail to thumbnail (:mod:`server.dedup.thumbnail_check`); the first that shows the same
   picture makes the frame a duplicate of that representative.
3. Otherwise the frame founds a new group and becomes its representative.

A duplicate is stored like any frame, with status ``duplicate`` and a ``duplicates`` row (of
which frame, at what distance, how much of the picture changed), so every decision can be
audited (``edgelabel-collector duplicates``) and nothing is dropped. Only representatives are in
the queue and in the index. When a near duplicate is better than its group's representative
(sharper, or more confident labels, see :attr:`DedupPolicy.representative`) and that one is still
``pending``, the newcomer takes its place: the old representative becomes a duplicate of it,
with a ``review_events`` row saying so (:func:`server.frames.state.demote_to_duplicate`).

The in-memory index changes with the transaction: :meth:`Deduplicator.commit` after the commit,
:meth:`Deduplicator.rollback` if it failed (undoing the batch's additions and removals).

Several nodes on one database: the index is a cache of the database. Each of its changes is also
written to a change log, and each ingest transaction starts with :meth:`Deduplicator.catch_up`,
which waits for other nodes deciding on the same devices (a lock per dedup scope, held to the
commit) and applies what they changed; see :mod:`server.dedup.changes` for why this serializes by
scope rather than resolving collisions afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from edge.contract.phash import hamming
from edge.contract.wire import FrameHeader
from server.db.hot_path import HotStatement
from server.dedup.candidate_comparer import CandidateComparer
from server.dedup.changes import ChangeFeed
from server.dedup.edge_audit import EdgeHashAudit
from server.dedup.frame_signature import FrameSignature, from_sqlite_int, to_sqlite_int
from server.dedup.hash_index import HammingIndex
from server.dedup.policy import DedupPolicy
from server.errors import StoreError
from server.frames import state

NOVELTY_FULL_AREA = 0.1
"""A frame whose nearest candidate differs in this share of the picture (or more) is fully novel."""

BETTER_MARGIN = 1.2
"""A newcomer must beat the representative by 20% to replace it, so near-ties (and a heavier JPEG
compression, which adds high frequencies that look like detail) do not churn the queue."""


# Per-frame statements of ingest: run on the driver's cursor (see server.db.hot_path).
_EXACT = HotStatement("SELECT f.id, s.group_id FROM frames f JOIN frame_signatures s ON s.frame_id = f.id"
                      " WHERE f.media_sha256 = :sha256 ORDER BY f.id LIMIT 1")
_CANDIDATES_SQL = (
    "SELECT s.frame_id, s.thumbnail, s.sharpness, s.label_confidence, s.group_id, s.block_hash, f.status, f.device,"
    " f.capture_ts, f.review_priority FROM frame_signatures s JOIN frames f ON f.id = s.frame_id WHERE s.frame_id IN ({})")
_CANDIDATES: dict[int, HotStatement] = {}  # by number of candidates: one query fetches them all
_INSERT_GROUP = HotStatement("INSERT INTO dedup_groups (id, representative_id, created_at, updated_at)"
                             " VALUES (:id, :id, :now, :now)")
_INSERT_SIGNATURE = HotStatement(
    "INSERT INTO frame_signatures (frame_id, block_hash, phash, thumbnail, sharpness, label_confidence,"
    " edge_hash_distance, group_id) VALUES (:frame_id, :block_hash, :phash, :thumbnail, :sharpness,"
    " :label_confidence, :edge_hash_distance, :group_id)")
_INSERT_DUPLICATE = HotStatement(
    "INSERT INTO duplicates (frame_id, duplicate_of, kind, distance, changed_area, group_id, decided_at)"
    " VALUES (:frame_id, :duplicate_of, :kind, :distance, :changed_area, :group_id, :now)")


@dataclass(frozen=True)
class Demotion:
    """A representative that a better newcomer replaces: it becomes a duplicate of the newcomer."""

    frame_id: int
    block_hash: int
    device: str
    capture_ts: float
    distance: int
    changed_area: float
    review_priority: float
    """The newcomer takes over the group's place in the queue if that is higher than its own."""


@dataclass(frozen=True)
class DedupDecision:
    kind: str | None
    """``exact`` or ``near`` for a duplicate; None for a frame that represents its group."""
    duplicate_of: int | None = None
    distance: int = 0
    """Hamming distance of the block hashes (0 for an exact copy)."""
    changed_area: float | None = None
    group_id: int | None = None
    """The group the frame joins; None when it founds one (the group then takes the frame's id)."""
    demotes: Demotion | None = None
    novelty: float = 1.0
    """0..1: how much the frame differs from the closest stored picture (for the queue's priority)."""

    @property
    def status(self) -> str:
        return "pending" if self.kind is None else "duplicate"


class Deduplicator:
    """The near-duplicate index of group representatives, and the rules above."""

    def __init__(self, policy: DedupPolicy | None = None, index: HammingIndex | None = None):
        self.policy = policy or DedupPolicy()
        self.index = index or HammingIndex()
        self.audit = EdgeHashAudit()
        self.changes = ChangeFeed(self.policy.across_devices)
        """What other nodes change in the index (:mod:`server.dedup.changes`)."""
        self._device_tags: dict[str, int] = {}
        self._journal: list[tuple[str, int, int, int, float]] = []  # ("add"|"remove", key, item, tag, stamp)
        self.comparer = CandidateComparer()

    def load(self, conn: Connection) -> int:
        """Rebuild the index from the database's group representatives; how many were loaded.

        ``conn``: one snapshot (a read transaction), which also says where :meth:`catch_up` starts."""
        rows = conn.execute(text(
            "SELECT g.representative_id, s.block_hash, f.device, f.capture_ts FROM dedup_groups g"
            " JOIN frame_signatures s ON s.frame_id = g.representative_id"
            " JOIN frames f ON f.id = g.representative_id"
        )).all()
        items = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        # Stored signed; the same 64 bits read as unsigned.
        keys = np.fromiter((row[1] for row in rows), np.int64, len(rows)).view(np.uint64)
        tags = np.fromiter((self._tag(row[2]) for row in rows), np.int32, len(rows))
        stamps = np.fromiter((row[3] for row in rows), np.float64, len(rows))
        self.index.bulk_load(keys, items, tags, stamps)
        self.changes.start(conn)
        self._journal.clear()
        return len(rows)

    def catch_up(self, conn: Connection, devices: Iterable[str]) -> int:
        """First thing in a write transaction that will decide on frames of ``devices``: wait for
        other nodes deciding on the same scope, then apply the index changes they committed since
        the last call; how many were applied. Other nodes' changes are committed: a rollback of
        this transaction keeps them."""
        self.changes.lock(conn, devices)
        applied = 0
        for change in self.changes.unseen(conn, devices):
            self.index.remove(change.block_hash, change.frame_id)  # so an add applied twice is one entry
            if change.action == "add":
                self.index.add(change.block_hash, change.frame_id, self._tag(change.device), change.capture_ts)
            applied += 1
        return applied

    def decide(self, conn: Connection, header: FrameHeader, signature: FrameSignature,
               media_sha256: str) -> DedupDecision:
        """What the new frame is (no writes); see the module docstring."""
        exact = _EXACT.execute(conn, {"sha256": media_sha256}).fetchone()
        if exact is not None:
            return DedupDecision("exact", duplicate_of=exact[0], distance=0, changed_area=0.0, group_id=exact[1], novelty=0.0)
        closest_area = None
        candidates = self._candidates(header, signature)
        rows = _candidate_rows(conn, [frame_id for frame_id, _ in candidates])
        found = [(frame_id, distance, rows[frame_id]) for frame_id, distance in candidates if frame_id in rows]
        areas = self.comparer.changed_areas(signature.thumbnail, [(frame_id, row[0]) for frame_id, _, row in found])
        with closing(areas):
            for (frame_id, distance, row), area in zip(found, areas):
                _, sharpness, confidence, group_id, block_hash, status, device, capture_ts, priority = row
                closest_area = area if closest_area is None else min(closest_area, area)
                if area > self.policy.max_changed_area:
                    continue
                if status == "pending" and self._better(signature, header, sharpness, confidence):
                    demotion = Demotion(frame_id, from_sqlite_int(block_hash), device, capture_ts, distance, area, priority)
                    return DedupDecision(None, group_id=group_id, demotes=demotion, novelty=0.0)
                return DedupDecision("near", duplicate_of=frame_id, distance=distance, changed_area=area,
                                     group_id=group_id, novelty=0.0)
        novelty = 1.0 if closest_area is None else min(1.0, closest_area / NOVELTY_FULL_AREA)
        return DedupDecision(None, novelty=novelty)

    def record(self, conn: Connection, frame_id: int, header: FrameHeader, signature: FrameSignature,
               decision: DedupDecision, now: float) -> None:
        """Write the decision for the just-inserted frame ``frame_id`` and update the index (journaled)."""
        group_id = decision.group_id if decision.group_id is not None else frame_id
        if decision.group_id is None:
            _INSERT_GROUP.execute(conn, {"id": frame_id, "now": now})
        edge_distance = hamming(int(header.phash, 16), signature.phash)
        self.audit.note(header.device, edge_distance)
        _INSERT_SIGNATURE.execute(conn, {
            "frame_id": frame_id, "block_hash": to_sqlite_int(signature.block_hash),
            "phash": to_sqlite_int(signature.phash), "thumbnail": signature.thumbnail_bytes(),
            "sharpness": signature.sharpness, "label_confidence": label_confidence(header),
            "edge_hash_distance": edge_distance, "group_id": group_id})
        if decision.kind is not None:
            _insert_duplicate(conn, frame_id, decision.duplicate_of, decision.kind, decision.distance,
                              decision.changed_area, group_id, now)
            return
        if decision.demotes is not None:
            self._demote(conn, decision.demotes, frame_id, group_id, now)
        self._index_add(signature.block_hash, frame_id, header)
        self.changes.append(conn, "add", frame_id, signature.block_hash, header.device, header.capture_ts)

    def commit(self) -> None:
        self._journal.clear()
        self.audit.forget()

    def rollback(self) -> None:
        self.comparer.forget()
        for action, key, item, tag, stamp in reversed(self._journal):
            if action == "add":
                self.index.remove(key, item)
            else:
                self.index.add(key, item, tag, stamp)
        self._journal.clear()
        self.audit.forget()

    # --- helpers -----------------------------------------------------------------------------------

    def _candidates(self, header: FrameHeader, signature: FrameSignature) -> list[tuple[int, int]]:
        """(frame id, distance) of the representatives to compare with, best first."""
        matches = self.index.query(signature.block_hash, self.policy.max_key_distance)
        if not len(matches):
            return []
        apart = np.abs(matches.stamps - header.capture_ts)
        in_scope = apart <= self.policy.time_window_s
        if not self.policy.across_devices:
            in_scope &= matches.tags == self._tag(header.device)
        chosen = np.flatnonzero(in_scope)
        chosen = chosen[np.lexsort((apart[chosen], matches.distances[chosen]))][: self.policy.max_candidates]
        return [(int(matches.items[i]), int(matches.distances[i])) for i in chosen]

    def _better(self, signature: FrameSignature, header: FrameHeader, sharpness: float, confidence: float) -> bool:
        if self.policy.representative == "sharpest":
            return signature.sharpness > sharpness * BETTER_MARGIN
        return label_confidence(header) > confidence * BETTER_MARGIN

    def _demote(self, conn: Connection, demotion: Demotion, frame_id: int, group_id: int, now: float) -> None:
        # Inside the ingest transaction nobody can claim it between the decision and this update.
        demoted = state.demote_to_duplicate(conn, demotion.frame_id, now, {
            "duplicate_of": frame_id, "distance": demotion.distance, "changed_area": demotion.changed_area,
            "reason": f"a better frame of its group arrived ({self.policy.representative})",
        })
        if not demoted:
            raise StoreError(f"representative {demotion.frame_id} left 'pending' during the ingest transaction")
        _insert_duplicate(conn, demotion.frame_id, frame_id, "near", demotion.distance, demotion.changed_area, group_id, now)
        conn.execute(text("UPDATE dedup_groups SET representative_id = :frame_id, updated_at = :now WHERE id = :id"),
                     {"frame_id": frame_id, "now": now, "id": group_id})
        self.changes.append(conn, "remove", demotion.frame_id, demotion.block_hash, demotion.device,
                            demotion.capture_ts)
        if self.index.remove(demotion.block_hash, demotion.frame_id):
            self._journal.append(("remove", demotion.block_hash, demotion.frame_id, self._tag(demotion.device),
                                  demotion.capture_ts))

    def _index_add(self, key: int, frame_id: int, header: FrameHeader) -> None:
        tag = self._tag(header.device)
        self.index.add(key, frame_id, tag, header.capture_ts)
        self._journal.append(("add", key, frame_id, tag, header.capture_ts))

    def _tag(self, device: str) -> int:
        return self._device_tags.setdefault(device, len(self._device_tags))


def label_confidence(header: FrameHeader) -> float:
    """Mean score of the frame's boxes (0 without boxes)."""
    scores = header.labels.score
    return float(sum(scores) / len(scores)) if scores else 0.0


def _candidate_rows(conn: Connection, frame_ids: list[int]) -> dict[int, tuple]:
    """The stored signature and frame columns of each candidate, by frame id, in one query."""
    if not frame_ids:
        return {}
    statement = _CANDIDATES.get(len(frame_ids))
    if statement is None:
        statement = _CANDIDATES[len(frame_ids)] = HotStatement(
            _CANDIDATES_SQL.format(", ".join(f":id{i}" for i in range(len(frame_ids)))))
    cursor = statement.execute(conn, {f"id{i}": frame_id for i, frame_id in enumerate(frame_ids)})
    return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _insert_duplicate(conn: Connection, frame_id: int, duplicate_of: int, kind: str, distance: int,
                      changed_area: float | None, group_id: int, now: float) -> None:
    _INSERT_DUPLICATE.execute(conn, {"frame_id": frame_id, "duplicate_of": duplicate_of, "kind": kind,
                                     "distance": distance, "changed_area": changed_area, "group_id": group_id,
                                     "now": now})
