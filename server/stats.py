"""The collector's numbers, for ``edgelabel-collector stats`` (and its metrics) and the dashboard.

One query module for both: devices (frames stored, last frame, last heartbeat) are read by
:func:`device_stats` alone, and each caller shapes them.

Dashboard: ingest, duplicates, queue, devices, review throughput and the model's precision as
reviewers measured it. Acceptance rate of a pre-label class = share of the model's boxes in
reviewed frames (accepted or corrected; rejected frames say nothing about the boxes) that a
reviewer kept unchanged, i.e. that have an annotation with ``source = 'model'`` pointing at them.
Per device, model id and class. "Models in the field" (``field``): per device and model in capture
order, precision and correction rate before and after each rollout. Both follow the one definition
of :mod:`server.field_precision`.
"""

from __future__ import annotations

import json
import time

from sqlalchemy import Connection, text

from server.db import Database, sql
from server.field_precision import FROM_DEVICE, KEPT_UNCHANGED, field_rows
from server.frames.state import VERIFIED_STATUSES

UNKNOWN_DEVICE = ""
"""Device column of a rejection whose sender could not be named (unreadable header, unknown key)."""

WINDOW_S = 3600.0
BIN_S = 60.0
REVIEW_ACTIONS = ("accept", "correct", "reject", "accept_track")


def device_stats(conn: Connection) -> dict[str, dict]:
    """Every device by name: frames stored, first and last frame, last seq, and its last heartbeat
    (``status``: received_at, device_ts, model_id and the agent's counters) when it sent one."""
    devices = {
        name: {"frames": frames, "first_seen": first_seen, "last_seen": last_seen, "last_seq": last_seq}
        for name, frames, first_seen, last_seen, last_seq in conn.execute(text(
            "SELECT name, frames_stored, first_seen, last_seen,"
            " (SELECT MAX(seq) FROM frames WHERE frames.device = devices.name) AS last_seq"
            " FROM devices ORDER BY name"))
    }
    for device, received_at, device_ts, model_id, counters in conn.execute(text(
            "SELECT device, received_at, device_ts, model_id, counters FROM device_status")):
        entry = devices.setdefault(device, {"frames": 0, "first_seen": None, "last_seen": None, "last_seq": None})
        entry["status"] = {"received_at": received_at, "device_ts": device_ts, "model_id": model_id,
                           **json.loads(counters)}
    return devices


def collector_stats(db: Database, models_in_field: bool = False) -> dict:
    """Counts for ``edgelabel-collector stats``; JSON-ready, from one consistent snapshot.
    ``models_in_field`` adds ``field`` (:func:`server.field_precision.field_rows`), which reads
    every frame: the CLI asks for it, a metrics scrape does not."""
    with db.read("read the statistics") as conn:
        devices = device_stats(conn)
        # Media are content-addressed: identical JPEGs share one file, so count distinct digests.
        media_files, media_bytes = conn.execute(text(
            "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM"  # PostgreSQL sums BIGINTs as NUMERIC
            " (SELECT MAX(media_bytes) AS bytes FROM frames GROUP BY media_sha256) AS media")).one()
        rejections = [dict(row._mapping) for row in conn.execute(text(
            "SELECT device, code, count, last_detail, last_at FROM rejections ORDER BY device, code"))]
        stats = {
            "database": db.location,
            "totals": {
                "frames": conn.execute(text("SELECT COUNT(*) FROM frames")).scalar_one(),
                "detections": conn.execute(text("SELECT COUNT(*) FROM detections")).scalar_one(),
                "devices": len(devices),
                "media_files": media_files,
                "media_bytes": media_bytes,
                "rejections": sum(row["count"] for row in rejections),
            },
            "devices": devices,
            "frames_by_status": _frames_by_status(conn),
            "detections_by_class": dict(conn.execute(text(
                "SELECT class_name, COUNT(*) AS n FROM detections GROUP BY class_name ORDER BY n DESC, class_name"
            )).all()),
            "redactions": redaction_totals(conn),
            "rejections": {
                "by_code": dict(conn.execute(text(
                    "SELECT code, CAST(SUM(count) AS BIGINT) FROM rejections GROUP BY code ORDER BY code")).all()),
                "by_device": [{**row, "device": None if row["device"] == UNKNOWN_DEVICE else row["device"]}
                              for row in rejections],
            },
        }
        if models_in_field:
            stats["field"] = field_rows(conn)
        return stats


def redaction_totals(conn: Connection) -> dict:
    """Frames whose pixels the edge redacted, and the regions redacted by kind (``faces``...)."""
    by_kind: dict[str, int] = {}
    frames = 0
    for (redactions,) in conn.execute(text("SELECT redactions FROM frames WHERE redactions IS NOT NULL")):
        frames += 1
        for kind, count in json.loads(redactions).items():
            by_kind[kind] = by_kind.get(kind, 0) + count
    return {"frames": frames, "by_kind": dict(sorted(by_kind.items()))}


def dashboard_data(db: Database, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    since = now - WINDOW_S
    bins = int(WINDOW_S / BIN_S)
    window = {"since": since, "bin": BIN_S, "actions": REVIEW_ACTIONS}
    with db.read("read the dashboard") as conn:
        # The bin number truncated: SQLite's CAST truncates, PostgreSQL's rounds.
        bin_of = "CAST(FLOOR({}) AS BIGINT)" if conn.dialect.name == "postgresql" else "CAST({} AS INTEGER)"
        ingest = _per_bin(conn.execute(text(
            f"SELECT {bin_of.format('(received_at - :since) / :bin')}, COUNT(*) FROM frames WHERE received_at >= :since"
            " GROUP BY 1"), window).all(), bins)
        reviews = _per_bin(conn.execute(sql(
            f"SELECT {bin_of.format('(at - :since) / :bin')}, COUNT(*) FROM review_events WHERE at >= :since"
            " AND action IN :actions GROUP BY 1", "actions"), window).all(), bins)
        by_reviewer = dict(conn.execute(sql(
            "SELECT \"user\", COUNT(*) FROM review_events WHERE at >= :since AND action IN :actions"
            " GROUP BY \"user\" ORDER BY 2 DESC", "actions"), window).all())
        queue = _frames_by_status(conn)
        duplicates = dict(conn.execute(text("SELECT kind, COUNT(*) FROM duplicates GROUP BY kind")).all())
        devices = [
            {"device": name, "frames": device["frames"], "last_frame_at": device["last_seen"],
             "heartbeat": None if "status" not in device else {
                 "received_at": device["status"]["received_at"], "age_s": now - device["status"]["received_at"],
                 **{k: v for k, v in device["status"].items() if k not in ("received_at", "device_ts")}}}
            for name, device in sorted(device_stats(conn).items())
        ]
        acceptance = [
            {"device": r[0], "model_id": r[1], "class_name": r[2], "boxes": r[3], "unchanged": r[4],
             "rate": r[4] / r[3] if r[3] else None}
            for r in conn.execute(sql(
                "SELECT f.device, f.model_id, d.class_name, COUNT(*),"
                f" SUM(CASE WHEN {KEPT_UNCHANGED} THEN 1 ELSE 0 END)"
                " FROM detections d JOIN frames f ON f.id = d.frame_id"
                f" WHERE f.status IN :verified AND {FROM_DEVICE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC", "verified"),
                {"verified": VERIFIED_STATUSES})
        ]
        field = field_rows(conn)
    return {
        "now": now, "window_s": WINDOW_S, "bin_s": BIN_S,
        "ingest": {"per_bin": ingest, "last_hour": sum(ingest), "per_minute": sum(ingest) / (WINDOW_S / 60)},
        "duplicates": {"exact": duplicates.get("exact", 0), "near": duplicates.get("near", 0)},
        "queue": queue,
        "devices": devices,
        "reviews": {"per_bin": reviews, "last_hour": sum(reviews), "by_reviewer": by_reviewer},
        "acceptance": acceptance,
        "field": field,
    }


def _frames_by_status(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(text("SELECT status, COUNT(*) FROM frames GROUP BY status ORDER BY status")).all())


def _per_bin(rows: list[tuple[int, int]], bins: int) -> list[int]:
    counts = [0] * bins
    for index, count in rows:
        if 0 <= index < bins:
            counts[index] = count
    return counts
