"""Checking the result: each table's row count and contents on both sides, and every referenced image in the target.

Contents are compared by a digest per table that does not depend on row order (the sum of each
row's SHA-256, modulo 2**128): PostgreSQL sorts text keys by its collation and SQLite by bytes,
and the rows of one table are unique, so equal digests mean equal tables. Every image is read
back from the target and hashed, not just listed: a digest names bytes, and only these bytes
prove the upload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from sqlalchemy import text

from server.db import Database
from server.media import MediaBackend, MediaMissingError
from server.migration.copy_rows import NoProgress, Progress
from server.migration.tables import TableInfo

READ_THREADS = 8
"""Images read back at once (S3 latency would otherwise add up per image)."""

_READ_BATCH = 2000


@dataclass(frozen=True)
class TableCheck:
    name: str
    source_rows: int
    target_rows: int
    same_content: bool

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.same_content

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass
class MediaCheck:
    referenced: int = 0
    verified: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_hash: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong_hash and self.verified == self.referenced

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def verify_tables(source: Database, target: Database, tables: Sequence[TableInfo],
                  progress: Progress = NoProgress) -> list[TableCheck]:
    bar = progress(total=len(tables), desc="verify rows", unit="table")
    checks = []
    try:
        for table in tables:
            source_rows, source_digest = table_digest(source, table)
            target_rows, target_digest = table_digest(target, table)
            checks.append(TableCheck(table.name, source_rows, target_rows, source_digest == target_digest))
            bar.update(1)
    finally:
        bar.close()
    return checks


def table_digest(db: Database, table: TableInfo) -> tuple[int, int]:
    """(rows, order-independent digest of their values) of one table."""
    rows = total = 0
    with db.read(f"read {table.name}") as conn:
        quote = conn.dialect.identifier_preparer.quote
        columns = ", ".join(quote(column) for column in table.columns)
        result = conn.execution_options(yield_per=_READ_BATCH).execute(
            text(f"SELECT {columns} FROM {quote(table.name)}"))
        for row in result:
            values = tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)
            total += int.from_bytes(hashlib.sha256(repr(values).encode()).digest()[:16], "big")
            rows += 1
    return rows, total % (1 << 128)


def verify_media(target: MediaBackend, digests: Sequence[str], progress: Progress = NoProgress) -> MediaCheck:
    """Read every image back from the target and hash it."""
    check = MediaCheck(referenced=len(digests))
    bar = progress(total=len(digests), desc="verify images", unit="image")
    try:
        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="verify-media") as pool:
            for sha256, outcome in zip(digests, pool.map(lambda digest: _read_hash(target, digest), digests)):
                if outcome is None:
                    check.missing.append(sha256)
                elif outcome != sha256:
                    check.wrong_hash.append(sha256)
                else:
                    check.verified += 1
                bar.update(1)
    finally:
        bar.close()
    return check


def _read_hash(target: MediaBackend, sha256: str) -> str | None:
    try:
        return hashlib.sha256(target.get(sha256)).hexdigest()
    except MediaMissingError:
        return None
