"""The review queue: reviewers claim frames under a lease, verify or correct them, and submit.

Data model (migration ``0003_dedup_and_review`` in :mod:`server.review.migrations`; the browser UI,
exports and agreement metrics build on it; every change of a frame is written by
:mod:`server.frames.state`):

* ``frames.status``: ``pending`` -> ``in_review`` (claimed) -> ``accepted`` | ``corrected`` |
  ``rejected``; ``in_review`` -> ``pending`` again on release or when the lease expires.
  ``duplicate`` frames are never queued (see :mod:`server.dedup.engine`).
* The queue is ``pending`` frames by ``review_priority`` (highest first), then by id (oldest first).
* A claim is a lease: ``claimed_by`` and ``lease_expires_at``. Only the holder may submit, renew or
  release it, and only before it expires; an expired lease is returned to the queue by the next
  claim (a ``lease_expired`` event) and its holder must claim again.
* ``detections`` stay the model's pre-labels, never changed; a frame shows them under their
  project class names (:func:`server.taxonomy.queries.detections_of`). ``annotations`` hold the
  verified labels: accepting copies the detections under those names (``source = 'model'``,
  ``detection_id`` set); a correction stores the reviewer's boxes (``source = 'human'`` unless a box repeats its detection
  unchanged, see :mod:`server.review.annotations`). A correction that changes nothing counts as
  ``accepted``.
* ``review_events``: one row per change (frame, user, action, at, details JSON); actions are
  ``claim``, ``renew``, ``release``, ``lease_expired``, ``accept``, ``correct``, ``reject`` and the
  collector's own ``marked_duplicate``.
* Consistency (:mod:`server.consistency.reviews`, with a :class:`ConsistencyPolicy`): a picked fraction
  of frames is reviewed twice, blind (the first submit only records a review and queues the frame
  again, never for the same reviewer), and gold frames are served as ordinary claims under a lease of
  their own, leaving the frame untouched.

Each operation is one short write transaction (:meth:`server.db.Database.write`, ``BEGIN
IMMEDIATE`` on SQLite) on the process's shared database, so two claims can never hand out the same
frame, even from several processes, and the ingest thread waits at most one such transaction for
the lock. A :class:`ReviewQueue` may be shared by threads.

Users: every call names its user; who may call is decided by the layer above (the HTTP API takes
the user from its authentication dependency, see :mod:`server.api.app`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Row, text

from server.consistency import reviews as consistency
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database, open_database, row_lock
from server.errors import ClaimError, FrameNotFoundError, SubmissionError
from server.frames import state
from server.review.annotations import decide
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.model import Taxonomy

DEFAULT_LEASE_S = 600.0
MAX_LEASE_S = 4 * 3600.0
DECISIONS = ("accept", "correct", "reject")
MAX_COMMENT_CHARS = 2000

_FRAME_FIELDS = (
    "id, device, seq, capture_ts, source_ts, frame_index, received_at, width, height, model_id, media_sha256,"
    " media_bytes, reasons, priority, status, review_priority, priority_factors, claimed_by, lease_expires_at,"
    " redactions"
)


class ReviewQueue:
    def __init__(self, db: Database, lease_seconds: float = DEFAULT_LEASE_S,
                 clock: Callable[[], float] = time.time, consistency_policy: ConsistencyPolicy | None = None,
                 owns_db: bool = False):
        """The queue over ``db`` (shared; :meth:`close` closes it only with ``owns_db``, as :meth:`open` sets).
        ``clock`` is injectable so tests can expire leases without sleeping.

        ``consistency_policy``: overlap and gold rates (:mod:`server.consistency.reviews`); without one
        no frame gets a second review and no gold frame is served (the review API passes the
        default policy, :class:`ConsistencyPolicy`)."""
        self.db = db
        self.consistency = consistency_policy or ConsistencyPolicy.off()
        self.lease_seconds = _check_lease(lease_seconds)
        self.clock = clock
        self._owns_db = owns_db

    @classmethod
    def open(cls, data_dir: Path, lease_seconds: float = DEFAULT_LEASE_S,
             clock: Callable[[], float] = time.time,
             consistency_policy: ConsistencyPolicy | None = None, database: str | None = None) -> ReviewQueue:
        """A queue on a database of its own (its schema must be current): the one at the ``database``
        URL, else the data directory's."""
        return cls(open_database(Path(data_dir), "current", database), lease_seconds, clock, consistency_policy,
                   owns_db=True)

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the queue ---------------------------------------------------------------------------------

    def next(self, limit: int = 10, user: str | None = None) -> list[dict]:
        """The frames a claim would hand out next, in order, without claiming them
        (for ``user``: leaving out the frames it reviewed first and must not review again)."""
        if not 1 <= limit <= 1000:
            raise SubmissionError(f"limit: expected 1..1000 frames, got {limit}")
        excluded = consistency.EXCLUDED_FOR_USER if user is not None else "1 = 1"
        with self._read() as conn:
            rows = conn.execute(text(
                f"SELECT {_FRAME_FIELDS} FROM frames WHERE (status = 'pending'"
                f" OR (status = 'in_review' AND lease_expires_at < :now)) AND {excluded}"
                " ORDER BY review_priority DESC, id LIMIT :limit"),
                {"now": self.clock(), "excluded_user": user, "limit": limit}).all()
            taxonomy = taxonomy_queries.load(conn)
            return [_frame_dict(conn, row, taxonomy) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            return dict(conn.execute(text("SELECT status, COUNT(*) FROM frames GROUP BY status ORDER BY status")).all())

    def claim(self, user: str, frame_id: int | None = None, lease_seconds: float | None = None) -> dict | None:
        """Claim the first frame of the queue (or ``frame_id``); the frame with its lease, or None if empty."""
        lease = _check_lease(self.lease_seconds if lease_seconds is None else lease_seconds)
        with self._write() as (conn, now):
            state.return_expired_leases(conn, now)
            consistency.expire_gold(conn, now)
            if frame_id is None:
                gold = consistency.gold_to_serve(conn, user, self.consistency)
                # Served like any other frame: the reviewer is not told.
                if gold is not None and consistency.assign_gold(conn, gold, user, now, lease):
                    return self._details(conn, gold, user)
                # Another node's reviewer may be claiming at this instant: pass over the frame it holds.
                frame_id = conn.execute(text(
                    f"SELECT id FROM frames WHERE status = 'pending' AND {consistency.EXCLUDED_FOR_USER}"
                    f" ORDER BY review_priority DESC, id LIMIT 1{row_lock(conn, skip_locked=True)}"),
                    {"excluded_user": user}).scalar()
                if frame_id is None:
                    return None
            else:
                status = _status_of(conn, frame_id)
                if status != "pending":
                    raise ClaimError(f"frame {frame_id} is {status}, not pending: it cannot be claimed")
                consistency.check_may_claim(conn, frame_id, user)
            state.claim(conn, frame_id, user, now, now + lease)
            return self._details(conn, frame_id)

    def renew(self, user: str, frame_id: int, lease_seconds: float | None = None) -> dict:
        """Extend the caller's lease on a frame it holds; the frame with its new lease."""
        lease = _check_lease(self.lease_seconds if lease_seconds is None else lease_seconds)
        with self._write() as (conn, now):
            if consistency.gold_lease(conn, frame_id, user) is not None:
                consistency.renew_gold(conn, frame_id, user, now, lease)
                return self._details(conn, frame_id, user)
            _require_claim(conn, frame_id, user, now)
            state.renew(conn, frame_id, user, now, now + lease)
            return self._details(conn, frame_id)

    def release(self, user: str, frame_id: int) -> None:
        """Give a claimed frame back to the queue unreviewed."""
        with self._write() as (conn, now):
            if consistency.gold_lease(conn, frame_id, user) is not None:
                consistency.release_gold(conn, frame_id, user)
                return
            _require_claim(conn, frame_id, user, now)
            state.release(conn, frame_id, user, now)

    def submit(self, user: str, frame_id: int, decision: str, annotations: object = None,
               comment: str | None = None) -> dict:
        """Record a reviewer's decision on a frame it holds: ``accept``, ``correct`` (with boxes) or ``reject``.

        Returns the frame as stored afterwards (status, annotations, events).
        """
        if decision not in DECISIONS:
            raise SubmissionError(f"decision: expected one of {', '.join(DECISIONS)}, got {decision!r}")
        if comment is not None and not (isinstance(comment, str) and len(comment) <= MAX_COMMENT_CHARS):
            raise SubmissionError(f"comment: expected a string of at most {MAX_COMMENT_CHARS} characters")
        if decision != "correct" and annotations is not None:
            raise SubmissionError(f"'annotations' go with decision 'correct', not {decision!r}")
        with self._write() as (conn, now):
            taxonomy = taxonomy_queries.load(conn)
            if consistency.gold_lease(conn, frame_id, user) is not None:
                consistency.require_gold_lease(conn, frame_id, user, now)
                width, height = _size_of(conn, frame_id)
                status, boxes = decide(decision, annotations, width, height,
                                       taxonomy_queries.detections_of(conn, frame_id, taxonomy), taxonomy)
                consistency.record_gold_answer(conn, frame_id, user, status, boxes, now)
                return self._details(conn, frame_id, user, answered=(status, boxes))
            width, height = _require_claim(conn, frame_id, user, now)
            detections = taxonomy_queries.detections_of(conn, frame_id, taxonomy)
            status, boxes = decide(decision, annotations, width, height, detections, taxonomy)
            if consistency.before_write(conn, frame_id, user, status, boxes, now, self.consistency) == "first":
                # The first of two blind reviews: kept in `reviews` only; the frame waits for another reviewer.
                state.requeue_for_second_review(conn, frame_id, user, decision, status, now)
                return self._details(conn, frame_id, user, answered=(status, boxes))
            state.finish_review(conn, frame_id, user, status, boxes, now)
            details = {"status": status, "annotations": len(boxes),
                       "changed": sum(b.source == "human" for b in boxes)}
            if comment:
                details["comment"] = comment
            overlap = consistency.after_write(conn, frame_id, user, status, boxes, now, self.consistency)
            if overlap is not None:
                details.update(overlap)
            state.record_event(conn, frame_id, user, decision, now, details)
            return self._details(conn, frame_id)

    def adjudicate(self, admin: str, frame_id: int, decision: str, annotations: object = None) -> str:
        """An admin's decision on a frame whose two reviews disagree: it replaces the frame's
        annotations and status (see :mod:`server.consistency`); the new status."""
        with self._write() as (conn, now):
            width, height = consistency.check_adjudicable(conn, frame_id)
            taxonomy = taxonomy_queries.load(conn)
            status, boxes = decide(decision, annotations, width, height,
                                   taxonomy_queries.detections_of(conn, frame_id, taxonomy), taxonomy)
            state.adjudicate(conn, frame_id, admin, status, boxes, now)
            consistency.resolve_adjudication(conn, frame_id, admin, status, boxes, now)
            return status

    def mark_gold(self, admin: str, frame_id: int) -> dict:
        """Snapshot a verified frame as gold (see :func:`server.consistency.reviews.mark_gold`)."""
        with self._write() as (conn, now):
            return consistency.mark_gold(conn, admin, frame_id, now)

    def frame(self, frame_id: int, viewer: str | None = None) -> dict:
        """A frame with its detections, annotations, duplicate record, group and review events
        (as ``viewer`` may see it: a blind review shows no trace of the other review or the gold labels)."""
        with self._read() as conn:
            return self._details(conn, frame_id, viewer)

    def write_transaction(self):
        """``with queue.write_transaction() as (conn, now):`` one write transaction at the queue's clock."""
        return self._write()

    def read_transaction(self):
        """``with queue.read_transaction() as conn:`` several reads of one snapshot."""
        return self._read()

    def media_sha256(self, frame_id: int) -> str:
        """The content id of the frame's JPEG in the media store."""
        with self._read() as conn:
            sha256 = conn.execute(text("SELECT media_sha256 FROM frames WHERE id = :id"), {"id": frame_id}).scalar()
        if sha256 is None:
            raise FrameNotFoundError(f"no frame {frame_id}")
        return sha256

    # --- internals ---------------------------------------------------------------------------------

    def _details(self, conn: Connection, frame_id: int, viewer: str | None = None,
                 answered: tuple[str, list] | None = None) -> dict:
        row = conn.execute(text(f"SELECT {_FRAME_FIELDS} FROM frames WHERE id = :id"), {"id": frame_id}).first()
        if row is None:
            raise FrameNotFoundError(f"no frame {frame_id}")
        frame = _frame_dict(conn, row)
        gold_lease = consistency.gold_lease(conn, frame_id, viewer) if viewer is not None else None
        if gold_lease is not None or answered is not None:
            return _blind(frame, viewer, gold_lease, answered)
        frame["annotations"] = [
            dict(zip(("id", "x1", "y1", "x2", "y2", "class_name", "track_id", "source", "detection_id", "author",
                      "created_at"), r))
            for r in conn.execute(text(
                "SELECT id, x1, y1, x2, y2, class_name, track_id, source, detection_id, author, created_at"
                " FROM annotations WHERE frame_id = :id ORDER BY id"), {"id": frame_id})
        ]
        duplicate = conn.execute(text(
            "SELECT duplicate_of, kind, distance, changed_area, decided_at FROM duplicates WHERE frame_id = :id"),
            {"id": frame_id}).first()
        frame["duplicate"] = None if duplicate is None else dict(
            zip(("duplicate_of", "kind", "distance", "changed_area", "decided_at"), duplicate))
        group = conn.execute(text(
            "SELECT g.id, g.representative_id, (SELECT COUNT(*) FROM frame_signatures s WHERE s.group_id = g.id)"
            " FROM frame_signatures fs JOIN dedup_groups g ON g.id = fs.group_id WHERE fs.frame_id = :id"),
            {"id": frame_id}).first()
        frame["group"] = None if group is None else dict(zip(("id", "representative_id", "size"), group))
        frame["events"] = [
            {"user": user, "action": action, "at": at, "details": json.loads(details)}
            for user, action, at, details in conn.execute(text(
                "SELECT \"user\", action, at, details FROM review_events WHERE frame_id = :id ORDER BY at, id"),
                {"id": frame_id})
        ]
        first = consistency.awaiting_second_by(conn, frame_id)
        if first is not None and viewer != first:  # the second reviewer must not see the first review
            frame["events"] = [e for e in frame["events"] if e["user"] != first]
        return frame

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, float]]:
        with self.db.write("change the review queue") as conn:
            yield conn, self.clock()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.db.read("read the review queue") as conn:
            yield conn


def _blind(frame: dict, viewer: str | None, lease: float | None, answered: tuple[str, list] | None) -> dict:
    """A frame as a reviewer of a blind review sees it: the model's pre-labels, no other review.

    Claimed (``answered`` None): in review by ``viewer`` until ``lease``. Answered: the viewer's own
    status and boxes, as an ordinary submit would show them."""
    blind = {**frame, "annotations": [], "events": [], "duplicate": None, "group": None}
    if answered is None:
        blind.update(status="in_review", claimed_by=viewer, lease_expires_at=lease)
    else:
        status, boxes = answered
        blind.update(status=status, claimed_by=None, lease_expires_at=None, annotations=[
            {"id": None, "x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "class_name": b.class_name,
             "track_id": b.track_id, "source": b.source, "detection_id": b.detection_id, "author": viewer,
             "created_at": None} for b in boxes])
    return blind


def _require_claim(conn: Connection, frame_id: int, user: str, now: float) -> tuple[int, int]:
    """(width, height) of a frame ``user`` holds an unexpired lease on; else a ClaimError."""
    row = conn.execute(text("SELECT status, claimed_by, lease_expires_at, width, height FROM frames WHERE id = :id"
                            + row_lock(conn)), {"id": frame_id}).first()
    if row is None:
        raise FrameNotFoundError(f"no frame {frame_id}")
    status, holder, expires, width, height = row
    if status != "in_review" or holder != user:
        raise ClaimError(f"frame {frame_id} is not claimed by {user!r} (it is {status}): claim it first")
    if expires < now:
        raise ClaimError(f"the lease of {user!r} on frame {frame_id} expired: claim it again")
    return width, height


def _status_of(conn: Connection, frame_id: int) -> str:
    status = conn.execute(text("SELECT status FROM frames WHERE id = :id" + row_lock(conn)), {"id": frame_id}).scalar()
    if status is None:
        raise FrameNotFoundError(f"no frame {frame_id}")
    return status


def _size_of(conn: Connection, frame_id: int) -> tuple[int, int]:
    width, height = conn.execute(text("SELECT width, height FROM frames WHERE id = :id"), {"id": frame_id}).one()
    return width, height


def _frame_dict(conn: Connection, row: Row, taxonomy: Taxonomy | None = None) -> dict:
    frame = dict(row._mapping)
    frame["reasons"] = json.loads(frame["reasons"])
    frame["priority_factors"] = json.loads(frame["priority_factors"])
    frame["redactions"] = json.loads(frame["redactions"]) if frame["redactions"] else {}  # what the edge redacted
    frame["detections"] = taxonomy_queries.detections_of(conn, frame["id"], taxonomy)
    return frame


def _check_lease(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
        math.isfinite(seconds) and 0 < seconds <= MAX_LEASE_S
    ):
        raise SubmissionError(f"lease: expected seconds in (0, {MAX_LEASE_S:g}], got {seconds!r}")
    return float(seconds)
