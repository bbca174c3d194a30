"""``edgelabel-collector migrate``: move an embedded collector (SQLite and a media folder) into
PostgreSQL and an S3 bucket, resumably and verified.

The steps, each in its own module:

* :mod:`server.migration.source`: the source data directory, opened read-only, refused while
  another process has its database open (``serve`` writing would make the copy inconsistent);
* :mod:`server.migration.tables`: which tables to copy and in which order, read from the
  source's schema (every table but the ``migrations`` record), parents before the tables whose
  foreign keys name them;
* :mod:`server.migration.copy_rows`: the target's migrations first, then the rows, ids kept, in
  batches, each batch one transaction; then PostgreSQL's identity sequences moved past the copied
  ids. A target holding other rows than the source is refused before anything is written;
* :mod:`server.migration.copy_media`: every image a row references, uploaded concurrently,
  skipped when the target has it already, its SHA-256 checked before it goes;
* :mod:`server.migration.verify`: row counts and a content digest per table on both sides, and
  every referenced image read back from the target and hashed (one that fails is copied again
  once, then checked again);
* :mod:`server.migration.run`: the order of these steps, and the report the command prints.

Resuming: an interrupted run (Ctrl-C, a crash, a lost connection) is simply run again. Batches
commit in key order, so a table with an integer key continues after the largest id the target
holds; other tables are copied again with ``ON CONFLICT DO NOTHING``, so nothing is stored twice.
Images already in the target are not uploaded again.
"""

