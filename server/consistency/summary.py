"""The consistency figures: agreement of overlap pairs per reviewer, day and class, and gold accuracy."""

from __future__ import annotations

import time

from server.consistency import reviews
from server.consistency.agreement import Tally, per_class, per_reviewer
from server.consistency.reviews import ConsistencyPolicy
from server.db import Database


def summary(db: Database, policy: ConsistencyPolicy, since: float | None = None, until: float | None = None) -> dict:
    """Agreement per reviewer (overall and per UTC day of the second review) and per class over
    overlap pairs, gold accuracy per reviewer."""
    with db.read("read the consistency figures") as conn:
        pairs = reviews.pair_results(conn, since, until)
        completed = reviews.pair_times(conn, since, until)
        gold = reviews.gold_results(conn, since, until)
        open_ids = [a["frame_id"] for a in reviews.open_adjudications(conn)]
    by_day: dict[str, dict[str, Tally]] = {}
    for frame_id, reviewer_a, reviewer_b, result in pairs:
        day = time.strftime("%Y-%m-%d", time.gmtime(completed[frame_id]))
        for reviewer in dict.fromkeys((reviewer_a, reviewer_b)):
            by_day.setdefault(reviewer, {}).setdefault(day, Tally()).add(frame_id, result)
    gold_tallies: dict[str, Tally] = {}
    for frame_id, reviewer, result in gold:
        gold_tallies.setdefault(reviewer, Tally()).add(frame_id, result)
    return {
        "window": {"since": since, "until": until},
        "policy": {"overlap_rate": policy.overlap_rate, "gold_rate": policy.gold_rate,
                   "agreement_threshold": policy.agreement_threshold},
        "pairs": [{"frame_id": f, "first_reviewer": a, "second_reviewer": b, **r.as_dict()} for f, a, b, r in pairs],
        "per_reviewer": per_reviewer(pairs),
        "per_reviewer_by_day": {reviewer: {day: tally.as_dict() for day, tally in sorted(days.items())}
                                for reviewer, days in sorted(by_day.items())},
        "per_class": per_class((f, r) for f, _, _, r in pairs),
        "gold_per_reviewer": {name: t.as_dict() for name, t in sorted(gold_tallies.items())},
        "open_adjudications": open_ids,
    }
