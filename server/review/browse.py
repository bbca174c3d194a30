"""The admin's frame browser: frames filtered by device, capture time, status and class, a page at a time.

A frame's boxes (what the class filter matches and a row counts) are its verified labels
(``annotations``) once it is accepted or corrected, else the model's pre-labels under their project
class names (the taxonomy's mapping, as the review screen shows them). Newest capture first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from server.db import sql
from server.errors import CollectorError
from server.frames.state import FRAME_STATUSES, VERIFIED_STATUSES
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.model import Taxonomy

STATUS_GROUPS = {"queued": ("pending", "in_review"), "verified": VERIFIED_STATUSES}
"""Filter names for several statuses: what a person asks for ("still queued", "verified")."""
STATUS_FILTERS = (*STATUS_GROUPS, *FRAME_STATUSES)
MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000
MAX_NAME_CHARS = 128
"""The wire format's limit for device and class names."""


class FrameFilterError(CollectorError):
    """A frame browser filter out of its range (the API answers 400 with this line)."""


@dataclass(frozen=True)
class FrameFilter:
    """Which frames to list; None leaves a filter out. ``since``/``until``: capture time, Unix seconds."""

    device: str | None = None
    since: float | None = None
    until: float | None = None
    status: str | None = None
    class_name: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("device", self.device), ("class", self.class_name)):
            if value is not None and not 0 < len(value) <= MAX_NAME_CHARS:
                raise FrameFilterError(f"'{name}' must be 1..{MAX_NAME_CHARS} characters, got {len(value)}")
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and not math.isfinite(value):
                raise FrameFilterError(f"'{name}' must be a finite number of Unix seconds, got {value}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise FrameFilterError(f"'since' ({self.since}) is after 'until' ({self.until})")
        if self.status is not None and self.status not in STATUS_FILTERS:
            raise FrameFilterError(f"'status' must be one of {', '.join(STATUS_FILTERS)}; got {self.status!r:.40}")


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise FrameFilterError(f"'limit' must be 1..{MAX_PAGE_SIZE} frames, got {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise FrameFilterError(f"'offset' must be 0..{MAX_OFFSET}, got {offset}")


def browse(conn: Connection, filters: FrameFilter, limit: int = 50, offset: int = 0) -> dict:
    """``{"frames": [row, ...], "total": N, "limit", "offset"}``; a row holds what the frame list
    shows: where the frame comes from, its status, its boxes per class, adjudication and gold."""
    check_page(limit, offset)
    taxonomy = taxonomy_queries.load(conn)
    where, params, lists = _where(conn, filters, taxonomy)
    total = conn.execute(sql(f"SELECT COUNT(*) FROM frames f WHERE {where}", *lists), params).scalar_one()
    rows = [dict(row._mapping) for row in conn.execute(sql(
        "SELECT f.id, f.device, f.seq, f.capture_ts, f.frame_index, f.status, f.media_sha256, f.width, f.height,"
        " f.model_id, (SELECT state FROM adjudications j WHERE j.frame_id = f.id) AS adjudication,"
        " EXISTS (SELECT 1 FROM gold_frames g WHERE g.frame_id = f.id) AS gold"
        f" FROM frames f WHERE {where} ORDER BY f.capture_ts DESC, f.id DESC LIMIT :limit OFFSET :offset", *lists),
        {**params, "limit": limit, "offset": offset})]
    boxes = _boxes_by_class(conn, rows, taxonomy)
    for row in rows:
        row["gold"] = bool(row["gold"])
        row["classes"] = boxes.get(row["id"], {})
    return {"frames": rows, "total": total, "limit": limit, "offset": offset}


def choices(conn: Connection) -> dict:
    """What the filters offer: every device, every status filter, and the classes boxes carry (the
    taxonomy's, the verified labels', and the models' classes under their project names)."""
    taxonomy = taxonomy_queries.load(conn)
    classes = {spec.name for spec in taxonomy.classes}
    classes.update(name for (name,) in conn.execute(text("SELECT DISTINCT class_name FROM annotations")))
    for model_id, names in taxonomy_queries.model_classes(conn).items():
        classes.update(taxonomy.project_class(model_id, name)[0] for name in names)
    return {
        "devices": [name for (name,) in conn.execute(text("SELECT name FROM devices ORDER BY name"))],
        "statuses": list(STATUS_FILTERS),
        "classes": sorted(classes, key=str.casefold),
    }


def _where(conn: Connection, filters: FrameFilter, taxonomy: Taxonomy) -> tuple[str, dict, list[str]]:
    """The WHERE clause over ``frames f``, its parameters and which of them are lists."""
    clauses, params, lists = ["1 = 1"], {}, []
    if filters.device is not None:
        clauses.append("f.device = :device")
        params["device"] = filters.device
    if filters.since is not None:
        clauses.append("f.capture_ts >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        clauses.append("f.capture_ts <= :until")
        params["until"] = filters.until
    if filters.status is not None:
        clauses.append("f.status IN :statuses")
        params["statuses"] = list(STATUS_GROUPS.get(filters.status, (filters.status,)))
        lists.append("statuses")
    if filters.class_name is not None:
        params.update(verified=list(VERIFIED_STATUSES), class_name=filters.class_name)
        lists.append("verified")
        verified = ("(f.status IN :verified AND EXISTS (SELECT 1 FROM annotations a"
                    " WHERE a.frame_id = f.id AND a.class_name = :class_name))")
        by_model = []
        for position, (model_id, names) in enumerate(_model_classes_for(conn, taxonomy, filters.class_name)):
            params[f"model_{position}"], params[f"classes_{position}"] = model_id, names
            lists.append(f"classes_{position}")
            by_model.append(f"(f.model_id = :model_{position} AND EXISTS (SELECT 1 FROM detections d"
                            f" WHERE d.frame_id = f.id AND d.class_name IN :classes_{position}))")
        model = f"(f.status NOT IN :verified AND ({' OR '.join(by_model)}))" if by_model else "1 = 0"
        clauses.append(f"({verified} OR {model})")
    return " AND ".join(clauses), params, lists


def _model_classes_for(conn: Connection, taxonomy: Taxonomy, class_name: str) -> list[tuple[str, list[str]]]:
    """(model id, its class names shown as ``class_name``) for each model with such a class."""
    found = []
    for model_id, names in taxonomy_queries.model_classes(conn).items():
        matching = sorted({name for name in names if taxonomy.project_class(model_id, name)[0] == class_name})
        if matching:
            found.append((model_id, matching))
    return found


def _boxes_by_class(conn: Connection, rows: list[dict], taxonomy: Taxonomy) -> dict[int, dict[str, int]]:
    """Per frame id: its boxes counted per class (verified labels, or the model's for the rest)."""
    counts: dict[int, dict[str, int]] = {}
    verified = [row["id"] for row in rows if row["status"] in VERIFIED_STATUSES]
    model_of = {row["id"]: row["model_id"] for row in rows if row["status"] not in VERIFIED_STATUSES}
    if verified:
        for frame_id, name, n in conn.execute(sql(
                "SELECT frame_id, class_name, COUNT(*) FROM annotations WHERE frame_id IN :ids"
                " GROUP BY frame_id, class_name", "ids"), {"ids": verified}):
            counts.setdefault(frame_id, {})[name] = n
    if model_of:
        for frame_id, name, n in conn.execute(sql(
                "SELECT frame_id, class_name, COUNT(*) FROM detections WHERE frame_id IN :ids"
                " GROUP BY frame_id, class_name", "ids"), {"ids": list(model_of)}):
            shown = taxonomy.project_class(model_of[frame_id], name)[0]
            per_frame = counts.setdefault(frame_id, {})
            per_frame[shown] = per_frame.get(shown, 0) + n
    return {frame_id: dict(sorted(per.items())) for frame_id, per in counts.items()}
