"""``edgelabel-collector media gc``: remove stored images that no row references.

Images are stored before their rows commit, so a crash in between leaves an orphan (an object or
file no row names). The sweep lists the store, keeps every image a row references (frames,
device backgrounds and the backgrounds synthetic runs used, class example crops, registered model files) and every image
younger than the grace period (a batch may be between its upload and its commit right now), and
removes the rest. Right before removing, the candidates are looked up once more, so an image a
retransmitted frame has just claimed again is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

from server.db import Database, sql
from server.media.base import MediaBackend, StoredObject

REFERENCES = (("frames", "media_sha256"), ("device_backgrounds", "media_sha256"),
              ("synthetic_runs", "background_sha256"), ("class_examples", "crop_sha256"),
              ("model_registry", "sha256"))
"""Every column that names a stored image."""

DEFAULT_GRACE_MINUTES = 60.0
_BATCH = 500

Progress = Callable[[Iterable[StoredObject]], Iterator[StoredObject]]


@dataclass(frozen=True)
class GcSummary:
    scanned: int
    referenced: int
    young: int
    """Unreferenced but newer than the grace period: kept."""
    orphans: int
    removed: int
    removed_bytes: int
    dry_run: bool

    def to_json(self) -> dict:
        return asdict(self)


def collect_garbage(db: Database, media: MediaBackend, grace_s: float, dry_run: bool = False,
                    progress: Progress = iter, clock: Callable[[], float] = time.time) -> GcSummary:
    """Remove (with ``dry_run``: only count) the unreferenced images older than ``grace_s`` seconds."""
    cutoff = clock() - grace_s
    referenced = _referenced(db, None)
    tally = {"scanned": 0, "referenced": 0, "young": 0, "orphans": 0, "removed": 0, "removed_bytes": 0}
    candidates: list[StoredObject] = []
    for item in progress(media.iter_objects()):
        tally["scanned"] += 1
        if item.sha256 in referenced:
            tally["referenced"] += 1
        elif item.modified > cutoff:
            tally["young"] += 1
        else:
            candidates.append(item)
            if len(candidates) >= _BATCH:
                _sweep(db, media, candidates, dry_run, tally)
                candidates = []
    _sweep(db, media, candidates, dry_run, tally)
    return GcSummary(**tally, dry_run=dry_run)


def _sweep(db: Database, media: MediaBackend, candidates: list[StoredObject], dry_run: bool, tally: dict) -> None:
    """Remove the candidates no row claims now (a retransmitted frame may have claimed one again)."""
    if not candidates:
        return
    claimed = _referenced(db, [item.sha256 for item in candidates])
    orphans = [item for item in candidates if item.sha256 not in claimed]
    tally["referenced"] += len(candidates) - len(orphans)
    tally["orphans"] += len(orphans)
    if dry_run:
        return
    for item in orphans:
        media.delete(item.sha256)
        tally["removed"] += 1
        tally["removed_bytes"] += item.size


def _referenced(db: Database, among: list[str] | None) -> set[str]:
    """The digests rows name (only those in ``among`` when given)."""
    found: set[str] = set()
    with db.read("read which images rows reference") as conn:
        for table, column in REFERENCES:
            if among is None:
                found.update(conn.execute(sql(f"SELECT DISTINCT {column} FROM {table}")).scalars())
            else:
                found.update(conn.execute(sql(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IN :ids", "ids"),
                                          {"ids": tuple(among)}).scalars())
    return found
