"""Every reviewer's reviews: overlap pairs, gold answers and adjudications (tables of migration
``0005_consistency``), and what the review queue asks of them.

Tables:

* ``reviews``: every reviewer's own labels of a frame, kept even when they are not the frame's
  verified ``annotations``: ``kind`` ``first``/``second`` (the two blind reviews of an overlap frame),
  ``gold`` (a reviewer's answer on a gold frame) or ``adjudication`` (an admin's decision);
  ``verdict`` accepted/corrected/rejected; ``labels`` a JSON list of ``{x1, y1, x2, y2, class_name,
  track_id}``.
* ``overlap_frames``: frames picked for a second review (:func:`is_overlap`, deterministic by frame id):
  ``awaiting_second`` after the first review, ``done`` with the pair's ``score`` and ``agreement``.
* ``adjudications``: overlap frames whose reviews disagree (score below the policy's threshold or
  one rejected the frame and the other did not), ``open`` until an admin decides.
* ``gold_frames``: verified frames an admin marked gold, with a snapshot of their verdict and labels.
* ``gold_assignments``: a gold frame served to a reviewer: its own lease (the frame itself is not
  touched), ``submitted_at`` once answered.

Flow of an overlap frame: the first submit stores a ``first`` review only (no annotations) and puts
the frame back to ``pending``; claims skip it for its first reviewer; whoever else claims it sees the
model's pre-labels and no trace of the first review. The second submit is an ordinary submit (its
boxes become the annotations) plus a ``second`` review, the pair's agreement and, on disagreement,
an adjudication. All functions run on the caller's connection inside its transaction; the frame's
own status, annotations and events are written by :mod:`server.frames.state`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, text

from server.consistency.agreement import agreement
from server.db import row_lock, sql
from server.errors import ClaimError, FrameNotFoundError
from server.frames.state import VERDICTS, Annotation, record_event


@dataclass(frozen=True)
class ConsistencyPolicy:
    overlap_rate: float = 0.05
    """Fraction of frames reviewed twice (picked by a hash of the frame id, so reproducible)."""
    gold_rate: float = 0.02
    """Chance that a reviewer's claim is served a gold frame (when one they have not reviewed exists)."""
    agreement_threshold: float = 0.8
    """An overlap pair scoring below this goes to adjudication."""

    @classmethod
    def off(cls) -> ConsistencyPolicy:
        """No overlap reviews, no gold frames served."""
        return cls(overlap_rate=0.0, gold_rate=0.0)

    def __post_init__(self) -> None:
        for name in ("overlap_rate", "gold_rate", "agreement_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")


# --- selection -------------------------------------------------------------------------------------


def _unit_hash(value: str) -> float:
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big") / 2**64


def is_overlap(frame_id: int, rate: float) -> bool:
    """Whether a frame gets a second, blind review (the same answer for the same id, every time)."""
    return _unit_hash(f"overlap:{frame_id}") < rate


EXCLUDED_FOR_USER = ("id NOT IN (SELECT frame_id FROM overlap_frames WHERE state = 'awaiting_second'"
                     " AND first_reviewer = :excluded_user)")
"""SQL condition on ``frames.id``: frames the user (parameter ``excluded_user``) must not claim."""


def check_may_claim(conn: Connection, frame_id: int, user: str) -> None:
    if awaiting_second_by(conn, frame_id) == user:
        raise ClaimError(f"frame {frame_id} waits for a second reviewer: {user!r} reviewed it first")


def awaiting_second_by(conn: Connection, frame_id: int) -> str | None:
    return conn.execute(text("SELECT first_reviewer FROM overlap_frames WHERE frame_id = :id"
                             " AND state = 'awaiting_second'"), {"id": frame_id}).scalar()


# --- reviews ---------------------------------------------------------------------------------------


def labels_json(boxes: list[Annotation]) -> str:
    return json.dumps([{"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "class_name": b.class_name,
                        "track_id": b.track_id} for b in boxes])


def record_review(conn: Connection, frame_id: int, reviewer: str, kind: str, verdict: str, boxes: list[Annotation],
                  now: float) -> None:
    conn.execute(text("INSERT INTO reviews (frame_id, reviewer, kind, verdict, labels, at)"
                      " VALUES (:frame_id, :reviewer, :kind, :verdict, :labels, :at)"),
                 {"frame_id": frame_id, "reviewer": reviewer, "kind": kind, "verdict": verdict,
                  "labels": labels_json(boxes), "at": now})


def reviews_of(conn: Connection, frame_id: int) -> list[dict]:
    return [
        {"reviewer": reviewer, "kind": kind, "verdict": verdict, "labels": json.loads(labels), "at": at}
        for reviewer, kind, verdict, labels, at in conn.execute(text(
            "SELECT reviewer, kind, verdict, labels, at FROM reviews WHERE frame_id = :id ORDER BY at, id"),
            {"id": frame_id})
    ]


def before_write(conn: Connection, frame_id: int, user: str, status: str, boxes: list[Annotation],
                 now: float, policy: ConsistencyPolicy) -> str | None:
    """Called by a submit before it writes: ``'first'`` when this is the first of two blind reviews
    (the caller then writes no annotations and queues the frame again), else None."""
    if awaiting_second_by(conn, frame_id) is not None:
        return None
    done = conn.execute(text("SELECT 1 FROM overlap_frames WHERE frame_id = :id"), {"id": frame_id}).first()
    if done is None and is_overlap(frame_id, policy.overlap_rate):
        record_review(conn, frame_id, user, "first", status, boxes, now)
        conn.execute(text("INSERT INTO overlap_frames (frame_id, first_reviewer, state)"
                          " VALUES (:id, :user, 'awaiting_second')"), {"id": frame_id, "user": user})
        return "first"
    return None


def after_write(conn: Connection, frame_id: int, user: str, status: str, boxes: list[Annotation],
                now: float, policy: ConsistencyPolicy) -> dict | None:
    """Called by a submit after it wrote the annotations: the second review of an overlap frame
    is stored and scored against the first; the pair's figures, or None for an ordinary frame."""
    first = awaiting_second_by(conn, frame_id)
    if first is None:
        return None
    if first == user:  # claims prevent it; a direct call must not pair a reviewer with itself
        raise ClaimError(f"frame {frame_id} waits for a second reviewer, not {user!r}")
    record_review(conn, frame_id, user, "second", status, boxes, now)
    verdict_a, labels_a = conn.execute(text(
        "SELECT verdict, labels FROM reviews WHERE frame_id = :id AND kind = 'first' ORDER BY id DESC LIMIT 1"),
        {"id": frame_id}).one()
    result = agreement(verdict_a, json.loads(labels_a), status, json.loads(labels_json(boxes)))
    conn.execute(text("UPDATE overlap_frames SET second_reviewer = :user, state = 'done', score = :score,"
                      " agreement = :agreement WHERE frame_id = :id"),
                 {"user": user, "score": result.score, "agreement": json.dumps(result.as_dict()), "id": frame_id})
    reasons = []
    if not result.verdict_agrees:
        reasons.append("verdicts differ")
    if result.score < policy.agreement_threshold:
        reasons.append(f"agreement {result.score:.2f} below {policy.agreement_threshold:g}")
    if reasons:
        conn.execute(text(
            "INSERT INTO adjudications (frame_id, reason, opened_at, state) VALUES (:id, :reason, :now, 'open')"
            " ON CONFLICT (frame_id) DO UPDATE SET reason = excluded.reason, opened_at = excluded.opened_at,"
            " state = 'open', resolved_by = NULL, resolved_at = NULL"),
            {"id": frame_id, "reason": "; ".join(reasons), "now": now})
    return {"overlap": "second", "score": result.score, "adjudication": bool(reasons)}


# --- gold ------------------------------------------------------------------------------------------


def mark_gold(conn: Connection, admin: str, frame_id: int, now: float) -> dict:
    """Snapshot a verified frame's verdict and annotations as gold."""
    status = conn.execute(text("SELECT status FROM frames WHERE id = :id"), {"id": frame_id}).scalar()
    if status is None:
        raise FrameNotFoundError(f"no frame {frame_id}")
    if status not in VERDICTS:
        raise ClaimError(f"frame {frame_id} is {status}: only a verified frame can be gold")
    if conn.execute(text("SELECT 1 FROM adjudications WHERE frame_id = :id AND state = 'open'"),
                    {"id": frame_id}).first():
        raise ClaimError(f"frame {frame_id} waits for adjudication: decide it before making it gold")
    labels = [dict(zip(("x1", "y1", "x2", "y2", "class_name", "track_id"), r)) for r in conn.execute(text(
        "SELECT x1, y1, x2, y2, class_name, track_id FROM annotations WHERE frame_id = :id ORDER BY id"),
        {"id": frame_id})]
    conn.execute(text(
        "INSERT INTO gold_frames (frame_id, verdict, labels, marked_by, marked_at)"
        " VALUES (:id, :verdict, :labels, :admin, :now)"
        " ON CONFLICT (frame_id) DO UPDATE SET verdict = excluded.verdict, labels = excluded.labels,"
        " marked_by = excluded.marked_by, marked_at = excluded.marked_at"),
        {"id": frame_id, "verdict": status, "labels": json.dumps(labels), "admin": admin, "now": now})
    record_event(conn, frame_id, admin, "mark_gold", now, {"verdict": status, "labels": len(labels)})
    return {"frame_id": frame_id, "verdict": status, "labels": labels}


def gold_to_serve(conn: Connection, user: str, policy: ConsistencyPolicy) -> int | None:
    """A gold frame to hand this user instead of the next queued frame, or None.

    Drawn at ``policy.gold_rate`` by a hash of (user, number of the user's claims so far), so a
    reviewer cannot tell from timing which claims are gold; only gold frames the user never
    reviewed (nor marked, nor was served) qualify.
    """
    if policy.gold_rate <= 0:
        return None
    claims = conn.execute(text("SELECT COUNT(*) FROM review_events WHERE \"user\" = :user AND action = 'claim'"),
                          {"user": user}).scalar_one()
    served = conn.execute(text("SELECT COUNT(*) FROM gold_assignments WHERE reviewer = :user"),
                          {"user": user}).scalar_one()
    if _unit_hash(f"gold:{user}:{claims + served}") >= policy.gold_rate:
        return None
    return conn.execute(text(
        "SELECT g.frame_id FROM gold_frames g WHERE g.marked_by != :user"
        " AND NOT EXISTS (SELECT 1 FROM gold_assignments a WHERE a.frame_id = g.frame_id AND a.reviewer = :user)"
        " AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.frame_id = g.frame_id AND r.reviewer = :user)"
        " AND NOT EXISTS (SELECT 1 FROM review_events e WHERE e.frame_id = g.frame_id AND e.\"user\" = :user"
        "   AND e.action IN ('accept', 'correct', 'reject', 'adjudicate'))"
        " ORDER BY g.marked_at, g.frame_id LIMIT 1"), {"user": user}).scalar()


def assign_gold(conn: Connection, frame_id: int, user: str, now: float, lease: float) -> bool:
    """Serve the gold frame to the user; False when a concurrent claim of the same user (another
    tab, another web node) was served it first (the caller then claims from the queue)."""
    return bool(conn.execute(text(
        "INSERT INTO gold_assignments (frame_id, reviewer, claimed_at, lease_expires_at)"
        " VALUES (:id, :user, :now, :until) ON CONFLICT (frame_id, reviewer) DO NOTHING"),
        {"id": frame_id, "user": user, "now": now, "until": now + lease}).rowcount)


def gold_lease(conn: Connection, frame_id: int, user: str) -> float | None:
    """The lease end of the user's open gold assignment on this frame, or None when there is none."""
    return conn.execute(text("SELECT lease_expires_at FROM gold_assignments WHERE frame_id = :id"
                             " AND reviewer = :user AND submitted_at IS NULL"), {"id": frame_id, "user": user}).scalar()


def require_gold_lease(conn: Connection, frame_id: int, user: str, now: float) -> None:
    expires = gold_lease(conn, frame_id, user)
    if expires is not None and expires < now:
        raise ClaimError(f"the lease of {user!r} on frame {frame_id} expired: claim it again")


def renew_gold(conn: Connection, frame_id: int, user: str, now: float, lease: float) -> None:
    require_gold_lease(conn, frame_id, user, now)
    conn.execute(text("UPDATE gold_assignments SET lease_expires_at = :until WHERE frame_id = :id"
                      " AND reviewer = :user"), {"until": now + lease, "id": frame_id, "user": user})


def release_gold(conn: Connection, frame_id: int, user: str) -> None:
    """A released (or expired) gold frame may be served to the user again later."""
    conn.execute(text("DELETE FROM gold_assignments WHERE frame_id = :id AND reviewer = :user"
                      " AND submitted_at IS NULL"), {"id": frame_id, "user": user})


def expire_gold(conn: Connection, now: float) -> None:
    conn.execute(text("DELETE FROM gold_assignments WHERE submitted_at IS NULL AND lease_expires_at < :now"),
                 {"now": now})


def record_gold_answer(conn: Connection, frame_id: int, user: str, status: str, boxes: list[Annotation],
                       now: float) -> None:
    """A reviewer's answer on a gold frame, kept as a ``gold`` review; the frame stays as it is.
    Check the lease first (:func:`require_gold_lease`)."""
    record_review(conn, frame_id, user, "gold", status, boxes, now)
    conn.execute(text("UPDATE gold_assignments SET submitted_at = :now WHERE frame_id = :id AND reviewer = :user"),
                 {"now": now, "id": frame_id, "user": user})


# --- adjudication ----------------------------------------------------------------------------------


def open_adjudications(conn: Connection) -> list[dict]:
    return [
        {"frame_id": frame_id, "reason": reason, "opened_at": opened_at, "score": score,
         "first_reviewer": first, "second_reviewer": second}
        for frame_id, reason, opened_at, score, first, second in conn.execute(text(
            "SELECT a.frame_id, a.reason, a.opened_at, o.score, o.first_reviewer, o.second_reviewer"
            " FROM adjudications a LEFT JOIN overlap_frames o ON o.frame_id = a.frame_id"
            " WHERE a.state = 'open' ORDER BY a.opened_at, a.frame_id"))
    ]


def adjudication(conn: Connection, frame_id: int) -> dict:
    row = conn.execute(text("SELECT reason, opened_at, state, resolved_by, resolved_at FROM adjudications"
                            " WHERE frame_id = :id"), {"id": frame_id}).first()
    if row is None:
        raise FrameNotFoundError(f"frame {frame_id} has no adjudication")
    overlap = conn.execute(text("SELECT first_reviewer, second_reviewer, score, agreement FROM overlap_frames"
                                " WHERE frame_id = :id"), {"id": frame_id}).first()
    return {
        "frame_id": frame_id, **dict(zip(("reason", "opened_at", "state", "resolved_by", "resolved_at"), row)),
        "reviews": [r for r in reviews_of(conn, frame_id) if r["kind"] in ("first", "second", "adjudication")],
        "agreement": None if overlap is None or overlap[3] is None else json.loads(overlap[3]),
    }


def check_adjudicable(conn: Connection, frame_id: int) -> tuple[int, int]:
    """(width, height) of a frame whose adjudication is open; else FrameNotFoundError / ClaimError."""
    # Locked to the commit: two admins deciding at once on two web nodes decide one after the other.
    state = conn.execute(text("SELECT state FROM adjudications WHERE frame_id = :id" + row_lock(conn)),
                         {"id": frame_id}).scalar()
    if state is None:
        raise FrameNotFoundError(f"frame {frame_id} has no adjudication")
    if state != "open":
        raise ClaimError(f"the adjudication of frame {frame_id} was already decided")
    status, width, height = conn.execute(text("SELECT status, width, height FROM frames WHERE id = :id"),
                                         {"id": frame_id}).one()
    if status not in VERDICTS:
        raise ClaimError(f"frame {frame_id} is {status}: it cannot be adjudicated now")
    return width, height


def resolve_adjudication(conn: Connection, frame_id: int, admin: str, status: str, boxes: list[Annotation],
                         now: float) -> None:
    """Keep the admin's decision as an ``adjudication`` review and close the adjudication."""
    record_review(conn, frame_id, admin, "adjudication", status, boxes, now)
    conn.execute(text("UPDATE adjudications SET state = 'resolved', resolved_by = :admin, resolved_at = :now"
                      " WHERE frame_id = :id"), {"admin": admin, "now": now, "id": frame_id})


# --- summary ---------------------------------------------------------------------------------------


def pair_results(conn: Connection, since: float | None = None, until: float | None = None) -> list[tuple]:
    """(frame_id, first reviewer, second reviewer, PairAgreement) of every overlap pair whose second
    review falls in [since, until)."""
    out = []
    for frame_id, reviewer_a, verdict_a, labels_a, reviewer_b, verdict_b, labels_b in conn.execute(text(
        "SELECT a.frame_id, a.reviewer, a.verdict, a.labels, b.reviewer, b.verdict, b.labels"
        " FROM reviews a JOIN reviews b ON b.frame_id = a.frame_id AND b.kind = 'second'"
        " WHERE a.kind = 'first' AND b.at >= :since AND b.at < :until ORDER BY a.frame_id"),
        _window(since, until),
    ):
        out.append((frame_id, reviewer_a, reviewer_b,
                    agreement(verdict_a, json.loads(labels_a), verdict_b, json.loads(labels_b))))
    return out


def pair_times(conn: Connection, since: float | None = None, until: float | None = None) -> dict[int, float]:
    """When each overlap pair of :func:`pair_results` was completed (its second review), by frame id."""
    return dict(conn.execute(text("SELECT frame_id, MAX(at) FROM reviews WHERE kind = 'second' AND at >= :since"
                                  " AND at < :until GROUP BY frame_id"), _window(since, until)).all())


def gold_results(conn: Connection, since: float | None = None, until: float | None = None) -> list[tuple]:
    """(frame_id, reviewer, PairAgreement of the reviewer's answer against the gold snapshot)."""
    return [
        (frame_id, reviewer, agreement(gold_verdict, json.loads(gold_labels), verdict, json.loads(labels)))
        for frame_id, reviewer, verdict, labels, gold_verdict, gold_labels in conn.execute(text(
            "SELECT r.frame_id, r.reviewer, r.verdict, r.labels, g.verdict, g.labels FROM reviews r"
            " JOIN gold_frames g ON g.frame_id = r.frame_id WHERE r.kind = 'gold' AND r.at >= :since"
            " AND r.at < :until ORDER BY r.frame_id, r.reviewer"), _window(since, until))
    ]


def _window(since: float | None, until: float | None) -> dict:
    return {"since": float("-inf") if since is None else since, "until": float("inf") if until is None else until}


# --- frames behind the figures ---------------------------------------------------------------------


MAX_LISTED_FRAMES = 500


def frame_rows(conn: Connection, frame_ids: list[int]) -> list[dict]:
    """A short row per frame (in the order asked, unknown ids left out): what a list of frames shows."""
    frame_ids = list(dict.fromkeys(frame_ids))[:MAX_LISTED_FRAMES]
    if not frame_ids:
        return []
    rows = {row[0]: dict(zip(("id", "device", "seq", "capture_ts", "status", "media_sha256", "width", "height",
                              "annotations", "detections", "adjudication", "gold"), row))
            for row in conn.execute(sql(
                "SELECT f.id, f.device, f.seq, f.capture_ts, f.status, f.media_sha256, f.width, f.height,"
                " (SELECT COUNT(*) FROM annotations a WHERE a.frame_id = f.id),"
                " (SELECT COUNT(*) FROM detections d WHERE d.frame_id = f.id),"
                " (SELECT state FROM adjudications j WHERE j.frame_id = f.id),"
                " EXISTS (SELECT 1 FROM gold_frames g WHERE g.frame_id = f.id)"
                " FROM frames f WHERE f.id IN :ids", "ids"), {"ids": frame_ids})}
    return [rows[i] for i in frame_ids if i in rows]


def frame_consistency(conn: Connection, frame_id: int) -> dict:
    """Everything consistency knows of one frame: every review, the overlap pair and its agreement,
    the adjudication and the gold snapshot (an admin's frame view)."""
    if conn.execute(text("SELECT 1 FROM frames WHERE id = :id"), {"id": frame_id}).first() is None:
        raise FrameNotFoundError(f"no frame {frame_id}")
    overlap = conn.execute(text("SELECT first_reviewer, second_reviewer, state, score, agreement FROM overlap_frames"
                                " WHERE frame_id = :id"), {"id": frame_id}).first()
    adjudication_row = conn.execute(text("SELECT reason, opened_at, state, resolved_by, resolved_at"
                                         " FROM adjudications WHERE frame_id = :id"), {"id": frame_id}).first()
    gold = conn.execute(text("SELECT verdict, labels, marked_by, marked_at FROM gold_frames WHERE frame_id = :id"),
                        {"id": frame_id}).first()
    return {
        "frame_id": frame_id,
        "reviews": reviews_of(conn, frame_id),
        "overlap": None if overlap is None else {
            "first_reviewer": overlap[0], "second_reviewer": overlap[1], "state": overlap[2], "score": overlap[3],
            "agreement": None if overlap[4] is None else json.loads(overlap[4])},
        "adjudication": None if adjudication_row is None else dict(
            zip(("reason", "opened_at", "state", "resolved_by", "resolved_at"), adjudication_row)),
        "gold": None if gold is None else {"verdict": gold[0], "labels": json.loads(gold[1]), "marked_by": gold[2],
                                           "marked_at": gold[3]},
    }
