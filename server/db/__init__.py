"""The collector's database layer: the one place that opens the database, runs transactions and
migrates the schema (SQLAlchemy Core 2.x).

* :mod:`server.db.database`: :func:`open_database` opens a database URL (``sqlite:///PATH``, the
  default, ``edgelabel.db`` inside the data directory; or ``postgresql://...``) as a :class:`Database`: one engine per
  process, shared by ingest, the review queue, the web API and the accounts. Every transaction is
  ``with db.write(what) as conn:`` or ``with db.read(what) as conn:``; driver errors become
  :class:`server.errors.StoreError` there and nowhere else.
* :mod:`server.db.migrations`: the migration runner. Each feature package owns its tables in its
  own files, ``server/<package>/migrations/NNNN_name.py`` with ``upgrade(conn)``; the runner finds
  them by scanning ``server/*/migrations/`` (the core imports no feature package by name) and
  applies them in ``NNNN`` order, each once, in its own write transaction, recording ``NNNN_name``
  in the ``migrations`` table as the collector always has.

Why a small runner and not Alembic: the databases in the field record their applied migrations by
name in ``migrations`` (``0001_initial`` ... ``0007_synthetic``), and this runner reads that record
as it is, so an existing database upgrades with no conversion step. Per-package ownership is a
folder per package and a global number, where Alembic would need a branch label, a
``down_revision`` chain and ``depends_on`` links across branches, plus its own version table. The
runner takes the write lock before it re-checks what is applied, so two processes starting on one
database (``serve`` and a command) never apply a migration twice. Migrations are plain SQL run
through SQLAlchemy, so the same runner serves PostgreSQL (:mod:`server.db.ddl` translates their
DDL there); what differs per dialect is listed in :mod:`server.db.database`.
"""

from server.db.database import DB_FILENAME, Database, database_url, open_database, row_lock, sql

__all__ = ["DB_FILENAME", "Database", "database_url", "open_database", "row_lock", "sql"]
