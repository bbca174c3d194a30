"""Copying the images: every object a row references, from the source's media folder to the target store.

Names are content-addressed (``ab/cd/<sha256>.jpg`` below the folder or key prefix,
:func:`server.media.relative_name`), so an object already in the target under a digest holds
those bytes: it is skipped when its size matches, which is what makes a re-run cheap. The target
is listed once up front instead of asked per image. Each image's bytes are hashed before they
are sent, so a damaged source file is reported rather than copied; uploads of a batch run
concurrently (the S3 store's thread pool), so latency does not add up per image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from server.db import Database, sql
from server.media import MediaBackend, MediaMissingError, MediaStore
from server.media.gc import REFERENCES
from server.migration.copy_rows import NoProgress, Progress

BATCH_IMAGES = 64
"""Images read and uploaded together (the S3 store sends a batch over its connection pool at once)."""


@dataclass
class MediaCopy:
    referenced: int = 0
    already_there: int = 0
    copied: int = 0
    copied_bytes: int = 0
    missing_in_source: list[str] = field(default_factory=list)
    damaged_in_source: list[str] = field(default_factory=list)
    """Source files whose bytes do not hash to their name: not copied."""
    repaired: int = 0
    """Target objects the verification found wrong or missing, copied again (see :func:`repair_media`)."""

    def to_json(self) -> dict:
        return asdict(self)


def referenced_images(db: Database) -> list[str]:
    """Every digest a row names (the columns ``media gc`` keeps alive), sorted."""
    found: set[str] = set()
    with db.read("read which images rows reference") as conn:
        for table, column in REFERENCES:
            found.update(conn.execute(sql(f"SELECT DISTINCT {column} FROM {table}")).scalars())
    return sorted(found)


def copy_media(source: MediaStore, target: MediaBackend, digests: Sequence[str],
               progress: Progress = NoProgress) -> MediaCopy:
    """Copy the images named by ``digests`` that the target lacks."""
    tally = MediaCopy(referenced=len(digests))
    present = {item.sha256: item.size for item in target.iter_objects()}
    bar = progress(total=len(digests), desc="images", unit="image")
    try:
        pending: list[bytes] = []
        for sha256 in digests:
            jpeg = _to_copy(source, sha256, present, tally)
            if jpeg is not None:
                pending.append(jpeg)
            else:
                bar.update(1)
            if len(pending) >= BATCH_IMAGES:
                _put(target, pending, tally, bar)
                pending = []
        _put(target, pending, tally, bar)
    finally:
        bar.close()
    return tally


def _to_copy(source: MediaStore, sha256: str, present: dict[str, int], tally: MediaCopy) -> bytes | None:
    """The image's bytes if it must be sent, else None (there already, or missing or damaged in the source)."""
    path = source.path_for(sha256)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        tally.missing_in_source.append(sha256)
        return None
    if present.get(sha256) == size:
        tally.already_there += 1
        return None
    try:
        jpeg = source.get(sha256)
    except MediaMissingError:
        tally.missing_in_source.append(sha256)
        return None
    if hashlib.sha256(jpeg).hexdigest() != sha256:
        tally.damaged_in_source.append(sha256)
        return None
    return jpeg


def _put(target: MediaBackend, jpegs: list[bytes], tally: MediaCopy, bar) -> None:
    if not jpegs:
        return
    target.put_many(jpegs)
    tally.copied += len(jpegs)
    tally.copied_bytes += sum(len(jpeg) for jpeg in jpegs)
    bar.update(len(jpegs))


def repair_media(source: MediaStore, target: MediaBackend, digests: Sequence[str], tally: MediaCopy) -> list[str]:
    """Copy again the images the verification found wrong or missing in the target; those it could send.

    A target object damaged from outside keeps its size, so :func:`copy_media` skips it on every
    run; it is removed first, because a local folder keeps a file whose size matches.
    """
    sent = []
    for sha256 in digests:
        jpeg = _to_copy(source, sha256, {}, MediaCopy())
        if jpeg is None:
            continue  # missing or damaged in the source too: the verification says so
        target.delete(sha256)
        target.put_many([jpeg])
        sent.append(sha256)
    tally.repaired += len(sent)
    return sent
