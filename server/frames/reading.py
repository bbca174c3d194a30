"""Reading stored frames back as rows: for exports, tests and the signature backfill."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import Connection, text

from server.db import Database, sql


def frame_rows(db: Database, status: str | None = None) -> list[dict]:
    """Rows of the ``frames`` table (``reasons`` decoded), oldest first, optionally of one status."""
    where = "WHERE status = :status" if status is not None else ""
    with db.read("read the frames") as conn:
        return [decode_frame_row(dict(row._mapping))
                for row in conn.execute(text(f"SELECT * FROM frames {where} ORDER BY id"), {"status": status})]


def iter_frames(db: Database, status: str | None = None, page_size: int = 256) -> Iterator[dict]:
    """Frame rows as :func:`frame_rows`, each with its ``detections`` list; streamed, for exports.

    Reads ``page_size`` frames per query and holds no cursor or snapshot between pages, so a
    long export neither blocks the writer's WAL checkpoints nor loads the whole table.
    """
    status_filter = "AND status = :status" if status is not None else ""
    last_id = 0
    while True:
        with db.read("read the frames") as conn:
            frames = [
                decode_frame_row(dict(row._mapping))
                for row in conn.execute(text(f"SELECT * FROM frames WHERE id > :last_id {status_filter}"
                                             " ORDER BY id LIMIT :limit"),
                                        {"last_id": last_id, "status": status, "limit": page_size})
            ]
            if not frames:
                return
            detections_by_frame = detections_of(conn, [frame["id"] for frame in frames])
        for frame in frames:
            frame["detections"] = detections_by_frame.get(frame["id"], [])
            yield frame
        last_id = frames[-1]["id"]


def decode_frame_row(row: dict) -> dict:
    """A ``frames`` row with its JSON columns decoded."""
    decoded = {**row, "reasons": json.loads(row["reasons"])}
    if "priority_factors" in row:
        decoded["priority_factors"] = json.loads(row["priority_factors"])
    return decoded


def detections_of(conn: Connection, frame_ids: list[int]) -> dict[int, list[dict]]:
    """The model's boxes of these frames, by frame id, in id order."""
    by_frame: dict[int, list[dict]] = {}
    for row in conn.execute(sql(
            "SELECT frame_id, id, x1, y1, x2, y2, score, class_id, class_name, track_id"
            " FROM detections WHERE frame_id IN :ids ORDER BY frame_id, id", "ids"), {"ids": frame_ids}):
        detection = dict(row._mapping)
        by_frame.setdefault(detection.pop("frame_id"), []).append(detection)
    return by_frame
