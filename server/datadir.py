"""A collector data directory: its database (:mod:`server.db`) and its media (:mod:`server.media`).

Everything lives in the data directory: ``edgelabel.db`` (SQLite in WAL mode; its schema comes from
each feature package's ``migrations/``) and ``media/`` (the JPEGs). :class:`DataDir` opens both,
for writing (``serve``, importers: the single ingest writer, :mod:`server.ingest`) or for reading
(``stats``, exports: any number of readers, while ``serve`` keeps writing), and hands out what the
other parts need: ``db`` (the process's one :class:`server.db.Database`, which ``serve`` shares with
the review API) and ``media``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from edge.contract.wire import DeviceStatus
from server.db import DB_FILENAME, Database, open_database
from server.dedup.engine import Deduplicator
from server.dedup.policy import DedupPolicy
from server.errors import StoreError
from server.frame_source import FrameSource
from server.frames import reading
from server.ingest.rows import IngestOutcome
from server.ingest.writer import IncomingFrame, IngestReadiness, IngestWriter
from server.media import MEDIA_DIRNAME, MediaBackend, MediaStore
from server.stats import collector_stats

__all__ = ["DB_FILENAME", "MEDIA_DIRNAME", "DataDir", "IncomingFrame", "IngestOutcome", "IngestReadiness"]


class DataDir:
    """The database and media of one data directory. Open it with :meth:`open` (the single
    writer) or :meth:`open_readonly` (any number of readers)."""

    def __init__(self, db: Database, data_dir: Path, dedup_policy: DedupPolicy | None = None,
                 media: MediaBackend | None = None):
        """Use :meth:`open` or :meth:`open_readonly`; they check the schema first.

        ``media``: where the images are (:func:`server.media.open_media`); by default the data
        directory's ``media/`` folder. The data directory closes it with the database.
        """
        self.db = db
        self.data_dir = data_dir
        self.db_path = data_dir / DB_FILENAME  # where the default (SQLite) database lives
        self.media = media if media is not None else MediaStore(data_dir / MEDIA_DIRNAME)
        self.writable = not db.readonly
        # Ingest state, for the writer only: the duplicate index and the queue's priority statistics.
        self.ingest = IngestWriter(db, self.media, dedup_policy) if self.writable else None
        self._closed = False

    @classmethod
    def open(cls, data_dir: Path, dedup_policy: DedupPolicy | None = None, database: str | None = None,
             media: MediaBackend | None = None) -> DataDir:
        """Open (creating it if needed) the database for writing and migrate it: the one at the
        ``database`` URL, else the data directory's own. ``media``: where the images are (default:
        the data directory's ``media/``)."""
        data_dir = Path(data_dir)
        return cls(open_database(data_dir, "create", database), data_dir, dedup_policy, media)

    @classmethod
    def open_readonly(cls, data_dir: Path, database: str | None = None, media: MediaBackend | None = None) -> DataDir:
        """Open an existing database for reading; works while a writer (``serve``) is running."""
        data_dir = Path(data_dir)
        return cls(open_database(data_dir, "readonly", database), data_dir, media=media)

    @property
    def dedup(self) -> Deduplicator:
        """The writer's duplicate index and rules."""
        return self._writer().dedup

    # --- writing (the single writer only): see server.ingest.writer --------------------------------

    def store_frames(self, batch: list[IncomingFrame]) -> list[bool]:
        """Store validated frames in one transaction; per item, True if new, False if a retransmission."""
        return [outcome.stored for outcome in self.ingest_frames(batch)]

    def ingest_frames(self, batch: list[IncomingFrame],
                      sources: Sequence[FrameSource | None] | None = None) -> list[IngestOutcome]:
        return self._writer().ingest_frames(batch, sources)

    def prepare_ingest(self) -> IngestReadiness | None:
        return self._writer().prepare_ingest()

    def record_status(self, status: DeviceStatus) -> None:
        self._writer().record_status(status)

    def count_rejection(self, device: str | None, code: str, detail: str) -> None:
        self._writer().count_rejection(device, code, detail)

    def flush_rejections(self) -> None:
        self._writer().flush_rejections()

    # --- reading (writer or reader) ----------------------------------------------------------------

    def stats(self) -> dict:
        """Counts for ``edgelabel-collector stats`` (:func:`server.stats.collector_stats`)."""
        if self.ingest is not None:
            self.ingest.flush_rejections()
        return collector_stats(self.db, models_in_field=True)

    def frame_rows(self, status: str | None = None) -> list[dict]:
        return reading.frame_rows(self.db, status)

    def iter_frames(self, status: str | None = None, page_size: int = 256) -> Iterator[dict]:
        return reading.iter_frames(self.db, status, page_size)

    def close(self) -> None:
        """Write buffered rejection counts (writer) and close the database. Safe to call twice."""
        if self._closed:
            return
        try:
            if self.ingest is not None:
                self.ingest.flush_rejections()
        finally:
            self._closed = True
            try:
                self.db.close()
            finally:
                self.media.close()

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _writer(self) -> IngestWriter:
        if self.ingest is None:
            raise StoreError(f"database {self.db.location} was opened read-only")
        return self.ingest
