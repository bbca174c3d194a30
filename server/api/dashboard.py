"""The dashboard's numbers: ingest, duplicates, queue, devices, review throughput and the model's
precision as reviewers measured it.

Acceptance rate of a pre-label class = share of the model's boxes in reviewed frames (accepted or
corrected; rejected frames say nothing about the boxes) that a reviewer kept unchanged, i.e. that
have an annotation with ``source = 'model'`` pointing at them. Per device, model id and class.
"""

from __future__ import annotations

import json
import time

from server.api.database import WebDatabase

WINDOW_S = 3600.0
BIN_S = 60.0
REVIEW_ACTIONS = ("accept", "correct", "reject", "accept_track")


def dashboard_data(db: WebDatabase, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    since = now - WINDOW_S
    bins = int(WINDOW_S / BIN_S)
    with db.read() as conn:
        ingest = _per_bin(conn.execute(
            "SELECT CAST((received_at - ?) / ? AS INTEGER), COUNT(*) FROM frames WHERE received_at >= ? GROUP BY 1",
            [since, BIN_S, since]).fetchall(), bins)
        placeholders = ", ".join("?" * len(REVIEW_ACTIONS))
        reviews = _per_bin(conn.execute(
            f"SELECT CAST((at - ?) / ? AS INTEGER), COUNT(*) FROM review_events WHERE at >= ?"
            f" AND action IN ({placeholders}) GROUP BY 1", [since, BIN_S, since, *REVIEW_ACTIONS]).fetchall(), bins)
        by_reviewer = dict(conn.execute(
            f"SELECT user, COUNT(*) FROM review_events WHERE at >= ? AND action IN ({placeholders})"
            " GROUP BY user ORDER BY 2 DESC", [since, *REVIEW_ACTIONS]).fetchall())
        queue = dict(conn.execute("SELECT status, COUNT(*) FROM frames GROUP BY status ORDER BY status").fetchall())
        duplicates = dict(conn.execute("SELECT kind, COUNT(*) FROM duplicates GROUP BY kind").fetchall())
        devices = _devices(conn, now)
        acceptance = [
            {"device": r[0], "model_id": r[1], "class_name": r[2], "boxes": r[3], "unchanged": r[4],
             "rate": r[4] / r[3] if r[3] else None}
            for r in conn.execute(
                "SELECT f.device, f.model_id, d.class_name, COUNT(*),"
                " SUM(EXISTS (SELECT 1 FROM annotations a WHERE a.detection_id = d.id AND a.source = 'model'))"
                " FROM detections d JOIN frames f ON f.id = d.frame_id"
                " WHERE f.status IN ('accepted', 'corrected') GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC")
        ]
    return {
        "now": now, "window_s": WINDOW_S, "bin_s": BIN_S,
        "ingest": {"per_bin": ingest, "last_hour": sum(ingest), "per_minute": sum(ingest) / (WINDOW_S / 60)},
        "duplicates": {"exact": duplicates.get("exact", 0), "near": duplicates.get("near", 0)},
        "queue": queue,
        "devices": devices,
        "reviews": {"per_bin": reviews, "last_hour": sum(reviews), "by_reviewer": by_reviewer},
        "acceptance": acceptance,
    }


def _per_bin(rows: list[tuple[int, int]], bins: int) -> list[int]:
    counts = [0] * bins
    for index, count in rows:
        if 0 <= index < bins:
            counts[index] = count
    return counts


def _devices(conn, now: float) -> list[dict]:
    devices = {
        name: {"device": name, "frames": frames, "last_frame_at": last_seen, "heartbeat": None}
        for name, frames, last_seen in conn.execute("SELECT name, frames_stored, last_seen FROM devices")
    }
    for device, received_at, model_id, counters in conn.execute(
            "SELECT device, received_at, model_id, counters FROM device_status"):
        entry = devices.setdefault(device, {"device": device, "frames": 0, "last_frame_at": None, "heartbeat": None})
        entry["heartbeat"] = {"received_at": received_at, "age_s": now - received_at, "model_id": model_id,
                              **json.loads(counters)}
    return sorted(devices.values(), key=lambda d: d["device"])
