"""One migration from start to end: checks, images, rows, sequences, verification (see :mod:`server.migration`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from server.db import Database, open_database
from server.db.database import display_url, normalize_url
from server.media import MediaBackend, MediaStore
from server.migration.copy_media import (
    MediaCopy,
    copy_media,
    referenced_images,
    repair_media,
)
from server.migration.copy_rows import (
    NoProgress,
    Progress,
    check_same_collector,
    copy_table,
    reset_sequences,
)
from server.migration.errors import MigrationError
from server.migration.source import open_source
from server.migration.tables import check_same_tables, copy_order
from server.migration.verify import MediaCheck, TableCheck, verify_media, verify_tables

DEFAULT_BATCH_ROWS = 1000


@dataclass
class MigrationReport:
    source: str
    target_database: str | None
    target_media: str | None
    copied_rows: dict[str, int] = field(default_factory=dict)
    """Rows each table gained in this run (0 for a table an earlier run finished)."""
    sequences: list[str] = field(default_factory=list)
    media_copy: MediaCopy | None = None
    tables: list[TableCheck] = field(default_factory=list)
    media: MediaCheck | None = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.tables) and (self.media is None or self.media.ok)

    def differences(self) -> list[str]:
        """One phrase per difference the verification found (empty when it passed)."""
        found = []
        for check in self.tables:
            if check.source_rows != check.target_rows:
                found.append(f"table {check.name}: {check.source_rows} rows in the source, {check.target_rows} in the target")
            elif not check.same_content:
                found.append(f"table {check.name}: same {check.source_rows} rows, but their contents differ "
                             "(the source changed since an interrupted run? migrate into an empty database again)")
        if self.media_copy is not None and self.media_copy.missing_in_source:
            found.append(f"{len(self.media_copy.missing_in_source)} referenced images are missing from the source's "
                         f"media folder already (first {self.media_copy.missing_in_source[0]})")
        if self.media_copy is not None and self.media_copy.damaged_in_source:
            found.append(f"{len(self.media_copy.damaged_in_source)} source images do not match their SHA-256 and were "
                         f"not copied (first {self.media_copy.damaged_in_source[0]})")
        if self.media is not None:
            if self.media.missing:
                found.append(f"{len(self.media.missing)} referenced images missing from {self.target_media} "
                             f"(first {self.media.missing[0]})")
            if self.media.wrong_hash:
                found.append(f"{len(self.media.wrong_hash)} images in {self.target_media} do not match their "
                             f"SHA-256 (first {self.media.wrong_hash[0]})")
        return found

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "source": self.source,
            "target": {"database": self.target_database, "media": self.target_media},
            "tables": {check.name: {**check.to_json(), "copied": self.copied_rows.get(check.name, 0)}
                       for check in self.tables},
            "sequences_reset": self.sequences,
            "media": None if self.media is None else {**self.media.to_json(), **_copy_json(self.media_copy)},
            "differences": self.differences(),
        }


def migrate_collector(data_dir: Path, database_url: str | None, media: MediaBackend | None,
                      batch_rows: int = DEFAULT_BATCH_ROWS, progress: Progress = NoProgress) -> MigrationReport:
    """Copy the embedded collector in ``data_dir`` into the database at ``database_url`` and/or the
    ``media`` store, then verify; the report says what was copied and what (if anything) differs."""
    if database_url is None and media is None:
        raise MigrationError("nothing to migrate to: give a target database, a target media store, or both")
    data_dir = Path(data_dir)
    source, source_media = open_source(data_dir)
    report = MigrationReport(str(data_dir), database_url and display_url(normalize_url(database_url)),
                             media.location if media is not None else None)
    target = None
    try:
        tables = copy_order_of(source)
        if media is not None:
            _refuse_same_folder(source_media, media)
            media.check()  # a wrong bucket or key shows now, before the target database is touched
        if database_url is not None:
            target = _open_target(database_url, data_dir)
            check_same_tables(tables, copy_order_of(target), target.location)
            check_same_collector(source, target, tables)
        # Images before rows: a node started on the target early never finds a row without its image.
        digests = referenced_images(source) if media is not None else []
        if media is not None:
            report.media_copy = copy_media(source_media, media, digests, progress)
        if target is not None:
            for table in tables:
                report.copied_rows[table.name] = copy_table(source, target, table, batch_rows, progress)
            report.sequences = reset_sequences(target, tables)
            report.tables = verify_tables(source, target, tables, progress)
        if media is not None:
            report.media = verify_media(media, digests, progress)
            broken = report.media.missing + report.media.wrong_hash
            if broken and repair_media(source_media, media, broken, report.media_copy):
                report.media = _merge(report.media, verify_media(media, broken, progress))
    finally:
        if target is not None:
            target.close()
        source.close()
    return report


def copy_order_of(db: Database):
    with db.read("read the schema") as conn:
        return copy_order(conn)


def _open_target(url: str, data_dir: Path) -> Database:
    normalized = normalize_url(url)
    if normalized.startswith("sqlite") and Path(normalized.split(":///", 1)[-1]).resolve() == \
            (data_dir / "edgelabel.db").resolve():
        raise MigrationError(f"the target database {url} is the source's own database")
    return open_database(None, "create", normalized)


def _refuse_same_folder(source: MediaStore, target: MediaBackend) -> None:
    if isinstance(target, MediaStore) and target.root.resolve() == source.root.resolve():
        raise MigrationError(f"the target media folder {target.root} is the source's own")


def _merge(first: MediaCheck, again: MediaCheck) -> MediaCheck:
    """The first verification with its failures replaced by a second look at just those images."""
    return MediaCheck(referenced=first.referenced, verified=first.verified + again.verified,
                      missing=again.missing, wrong_hash=again.wrong_hash)


def _copy_json(copy: MediaCopy | None) -> dict:
    if copy is None:
        return {}
    return {"already_there": copy.already_there, "copied": copy.copied, "copied_bytes": copy.copied_bytes,
            "repaired": copy.repaired,
            "missing_in_source": copy.missing_in_source, "damaged_in_source": copy.damaged_in_source}
