"""Reading duplicate decisions back, so a person can audit them (``edgelabel-collector duplicates``)."""

from __future__ import annotations

from sqlalchemy import Connection, text

from server.dedup.edge_audit import hash_checks

_MEMBER_FIELDS = ("frame_id", "device", "seq", "capture_ts", "status", "media_sha256", "duplicate_of", "kind",
                  "distance", "changed_area", "decided_at")


def duplicate_report(conn: Connection, device: str | None = None, min_size: int = 2,
                     limit: int | None = None) -> dict:
    """Groups of at least ``min_size`` frames (largest first), totals and the devices' hash checks.

    Each group names its representative (the frame in the queue) and lists every member with the
    decision about it: ``duplicate_of`` (which frame it repeats), ``kind`` (exact or near),
    ``distance`` (block-hash bits) and ``changed_area`` (share of the picture that differed).
    JSON-ready.
    """
    where = "WHERE f.device = :device" if device is not None else ""
    params = {"device": device, "min_size": min_size, "limit": limit}
    sizes = conn.execute(text(
        f"SELECT s.group_id, COUNT(*) AS size FROM frame_signatures s JOIN frames f ON f.id = s.frame_id {where}"
        " GROUP BY s.group_id HAVING COUNT(*) >= :min_size ORDER BY size DESC, s.group_id"
        + (" LIMIT :limit" if limit is not None else "")), params,
    ).all()
    groups = []
    for group_id, size in sizes:
        representative = conn.execute(text("SELECT representative_id FROM dedup_groups WHERE id = :id"),
                                      {"id": group_id}).scalar_one()
        members = [
            dict(zip(_MEMBER_FIELDS, row))
            for row in conn.execute(text(
                "SELECT f.id, f.device, f.seq, f.capture_ts, f.status, f.media_sha256, d.duplicate_of, d.kind,"
                " d.distance, d.changed_area, d.decided_at FROM frame_signatures s JOIN frames f ON f.id = s.frame_id"
                " LEFT JOIN duplicates d ON d.frame_id = f.id WHERE s.group_id = :id ORDER BY f.id"),
                {"id": group_id},
            )
        ]
        groups.append({"group_id": group_id, "representative_id": representative, "size": size, "members": members})
    by_kind = dict(conn.execute(text(
        f"SELECT d.kind, COUNT(*) FROM duplicates d JOIN frames f ON f.id = d.frame_id {where} GROUP BY d.kind"), params
    ).all())
    return {
        "totals": {
            "frames": conn.execute(text(f"SELECT COUNT(*) FROM frames f {where}"), params).scalar_one(),
            "groups": conn.execute(text(
                f"SELECT COUNT(DISTINCT s.group_id) FROM frame_signatures s JOIN frames f ON f.id = s.frame_id {where}"),
                params,
            ).scalar_one(),
            "duplicates": {"exact": by_kind.get("exact", 0), "near": by_kind.get("near", 0)},
        },
        "groups": groups,
        "devices": hash_checks(conn),
    }
