"""Bringing frames in: a batch stored in one transaction, its duplicates found, the rest queued.

* :mod:`server.ingest.writer`: :class:`IngestWriter`, the single writer of ingest (the receiver
  thread, an importer): batch insert, duplicate and priority wiring, heartbeats, rejections.
* :mod:`server.ingest.rows`: the rows a frame becomes, and the hot path's statements.
* :mod:`server.ingest.backfill`: signing frames stored before duplicate detection existed.
* :mod:`server.ingest.rejections`: rejected messages counted in memory, written in bulk.
* ``migrations/``: the tables ingest owns (``0001_initial``, ``0002_device_status``).
"""
