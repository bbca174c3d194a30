"""Opening the collector's database, its transactions, and what its driver errors mean.

:func:`open_database` is the one way to open it, from a data directory (the database is then
``edgelabel.db`` in it) or a URL. It returns a :class:`Database`: one SQLAlchemy engine (a pool of
connections) that every part of a process shares. ``serve`` opens it once; ingest, the review
queue, the web API and the accounts all run on it.

Transactions: ``with db.write("store the frames") as conn:`` is one write transaction, committed
at the end of the block and rolled back on any exception; ``with db.read("read the queue") as
conn:`` is several reads of one snapshot, always rolled back. On SQLite a write begins with
``BEGIN IMMEDIATE`` (the documented pysqlite recipe: the driver's own transaction handling is off
and the ``begin`` event emits the statement), so a writer takes the lock up front and waits up to
:data:`BUSY_TIMEOUT_MS` for another writer (the ingest thread, another process) instead of failing
halfway; a read begins with a plain ``BEGIN``. A driver error inside either becomes a one-line
:class:`StoreError` saying what could not be done (``what``); a driver ``ProgrammingError`` (a
bug: misuse, an SQL syntax error) is left as it is.

SQLite settings, per connection: ``busy_timeout`` 10 s, ``synchronous = FULL`` and
``foreign_keys = ON`` for writers, ``query_only = ON`` for readers (which open the file
read-only); the file is put in WAL mode when it is opened for writing, so readers (``stats``,
exports) see a consistent snapshot while ``serve`` writes. With WAL and ``synchronous = FULL``
every commit is fsynced.

PostgreSQL (``postgresql://USER@HOST[:PORT]/DB``, opened on psycopg 3 as ``postgresql+psycopg://``;
the ``postgres`` extra installs it): a write runs at READ COMMITTED, and what SQLite's write lock
did is done by row locks: review claims pick ``FOR UPDATE SKIP LOCKED`` (:func:`row_lock`), ingest
holds each device's row from its upsert to the commit, migrations take an advisory lock. A read is
one REPEATABLE READ snapshot; a read-only database sets ``default_transaction_read_only``.

SQL portability: queries are ``text()`` with named ``:params`` (lists through :func:`sql`'s
expanding parameters); upserts are ``ON CONFLICT ... DO NOTHING / DO UPDATE`` and new ids come from
``RETURNING`` (SQLite >= 3.35 and PostgreSQL both have them); the column named ``user`` is always
quoted (``"user"``, a reserved word in PostgreSQL); sums of integer columns are cast to ``BIGINT``
(PostgreSQL sums them as ``NUMERIC``). The migrations' DDL is SQLite's, translated for PostgreSQL
by :mod:`server.db.ddl`. What differs per dialect, and where:

* the pragmas above and WAL, and ``BEGIN IMMEDIATE`` (set and emitted here, for SQLite only);
* numbering existing taxonomy aliases once, in their physical order (``rowid`` on SQLite, ``ctid``
  on PostgreSQL; migration ``0011_alias_position``);
* truncating a float to an integer (``CAST`` truncates on SQLite, rounds on PostgreSQL: the
  dashboard's bins in :mod:`server.stats` use ``FLOOR`` there);
* the one-line message for a file that is no SQLite database (``SQLITE_NOTADB``).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import (
    Connection,
    Engine,
    TextClause,
    bindparam,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy import exc as sa_exc

from server.errors import StoreError, StoreUnavailableError
from server.file_modes import create_private_file, make_private_dir

DB_FILENAME = "edgelabel.db"

BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another writer's lock before it fails with a StoreError."""

CONNECT_TIMEOUT_S = 10
"""PostgreSQL: how long opening a connection may take (unless the URL sets ``connect_timeout``)."""

_POSTGRES_LIVENESS = {"connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 10,
                      "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 30_000}
"""libpq settings (each unless the URL sets it) that let a node notice a database host gone silent:
connecting gives up after 10 s, and a connection waiting on a host that stopped answering is
dropped after about 25 s of unanswered keepalives (30 s of unacknowledged data), instead of
hanging the ingest thread for the operating system's TCP timeouts (minutes to hours)."""

_SQLITE_NOTADB = 26
"""sqlite3.SQLITE_NOTADB: the file is not an SQLite database."""

_WRITE = "edgelabel_write"
"""Execution option of a connection whose transaction must take the write lock up front."""

OpenMode = Literal["create", "upgrade", "current", "readonly"]
"""``create``: create the database if needed and migrate it (``serve``, ``import``, ``users``).
``upgrade``: an existing database, migrated if this collector is newer (``classes``, ``synthesize``).
``current``: an existing database whose schema must be current already (never migrates).
``readonly``: an existing, current database, read only (``stats``, exports; works while ``serve`` runs)."""


def database_url(data_dir: Path) -> str:
    """The default database of a data directory: ``sqlite:///<data_dir>/edgelabel.db``."""
    return f"sqlite:///{Path(data_dir) / DB_FILENAME}"


class Database:
    """One engine over the collector's database; see the module docstring. Safe to share by threads."""

    def __init__(self, engine: Engine, location: str, readonly: bool):
        """Use :func:`open_database`."""
        self.engine = engine
        self.location = location
        """The file (or URL) named in error messages."""
        self.readonly = readonly
        self._driver_error = engine.dialect.loaded_dbapi.Error
        self._driver_bug = engine.dialect.loaded_dbapi.ProgrammingError
        # Connection lost or refused, server shutting down, SQLite's lock timeout, disk I/O: worth trying again.
        self._driver_unavailable = (engine.dialect.loaded_dbapi.OperationalError, engine.dialect.loaded_dbapi.InterfaceError)

    @contextmanager
    def write(self, what: str = "write to the database") -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed when the block ends."""
        if self.readonly:
            raise StoreError(f"cannot {what}: database {self.location} was opened read-only")
        with self.errors(what), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self, what: str = "read the database") -> Iterator[Connection]:
        """Several reads of one snapshot; the transaction is rolled back at the end."""
        with self.errors(what), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # SQLite's transactions are snapshots already
                conn.execution_options(isolation_level="REPEATABLE READ")
            transaction = conn.begin()
            try:
                yield conn
            finally:
                transaction.rollback()

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Driver errors as one-line StoreErrors saying what could not be done; the one place that translates them."""
        try:
            yield
        except (sa_exc.ProgrammingError, self._driver_bug):  # misuse or bad SQL: a bug, not the operator's
            raise
        except sa_exc.DBAPIError as exc:
            raise self._store_error(what, exc.orig) from exc
        except self._driver_error as exc:
            raise self._store_error(what, exc) from exc

    def close(self) -> None:
        """Close every pooled connection. Safe to call twice."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _store_error(self, what: str, error: BaseException) -> StoreError:
        if getattr(error, "sqlite_errorcode", None) == _SQLITE_NOTADB:
            return StoreError(f"{self.location} is not an edgelabel database (not an SQLite file)")
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        kind = StoreUnavailableError if isinstance(error, self._driver_unavailable) else StoreError
        return kind(f"cannot {what} ({self.location}): {detail}")


def open_database(data_dir: Path | None, mode: OpenMode, url: str | None = None) -> Database:
    """Open the database of ``data_dir`` (or at ``url``) as ``mode`` says; see :data:`OpenMode`.

    The schema is checked first: a foreign database or one written by a newer edgelabel is
    refused before anything in it changes.
    """
    from server.db import migrations  # it imports this module

    url = normalize_url(url) if url else database_url(data_dir)
    sqlite_path = _sqlite_path(url)
    location = str(sqlite_path) if sqlite_path is not None else display_url(url)
    if sqlite_path is not None:
        _check_sqlite_file(sqlite_path, mode)
    readonly = mode == "readonly"
    if readonly and sqlite_path is not None:
        url = f"sqlite:///file:{urllib.parse.quote(str(sqlite_path.absolute()))}?mode=ro&uri=true"
    db = Database(_engine(url, readonly), location, readonly)
    try:
        with db.errors("open the database"):
            applied = migrations.check_known_schema(db)
            if mode in ("create", "upgrade"):
                if db.engine.dialect.name == "sqlite":
                    # On the driver's connection: journal_mode cannot change inside a transaction.
                    raw = db.engine.raw_connection()
                    try:
                        raw.cursor().execute("PRAGMA journal_mode = WAL")
                    finally:
                        raw.close()
                migrations.migrate(db)
            else:
                missing = migrations.missing(applied)
                if missing:
                    how = ("open it for writing once (start the collector) to upgrade it" if readonly
                           else "start the collector once to upgrade it")
                    raise StoreError(f"database {location} has an older schema (missing {', '.join(missing)}); {how}")
    except BaseException:
        db.close()
        raise
    return db


def _engine(url: str, readonly: bool) -> Engine:
    if not url.startswith("sqlite"):
        return _postgres_engine(url, readonly)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own: _on_begin does
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if readonly:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def require_driver() -> None:
    """PostgreSQL's driver, psycopg 3, or a one-line StoreError naming the extra that installs it."""
    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy loads)
    except ImportError:
        raise StoreError("PostgreSQL needs the psycopg driver: pip install 'edgelabel[postgres]'") from None


def _postgres_engine(url: str, readonly: bool) -> Engine:
    require_driver()
    # pool_pre_ping: a node outlives a database restart without failing its next request.
    given = make_url(url).query
    connect_args = {key: value for key, value in _POSTGRES_LIVENESS.items() if key not in given}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if readonly:
        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection, _record) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()

    return engine


def normalize_url(url: str) -> str:
    """``url`` as SQLAlchemy opens it: ``postgresql://`` (or ``postgres://``) on psycopg 3."""
    for scheme in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    if url.startswith("sqlite:"):
        return url
    raise StoreError(f"database URL {url!r}: expected postgresql://USER@HOST[:PORT]/DB or sqlite:///PATH")


def display_url(url: str) -> str:
    """``url`` with its password hidden, for messages and ``stats``."""
    if url.startswith("sqlite"):
        return url
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise StoreError(f"database URL {url!r}: expected sqlite:///PATH to a file")
    return Path(path)


def _check_sqlite_file(path: Path, mode: OpenMode) -> None:
    if mode != "create":
        if not path.is_file():
            hint = f"; create one with 'edgelabel-collector init --data-dir {path.parent}'" if mode == "upgrade" else ""
            raise StoreError(f"no edgelabel database in {path.parent} (expected {path}{hint})")
        return
    try:
        make_private_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot create data directory {path.parent}: {exc.strerror or exc}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"data directory {path.parent} is not writable")
    if not path.exists():
        create_private_file(path)  # before SQLite creates it with the umask's mode (0644)


def row_lock(conn: Connection, skip_locked: bool = False) -> str:
    """The clause that locks the rows a SELECT reads until the write transaction ends.

    PostgreSQL: ``FOR UPDATE`` (``SKIP LOCKED``: rows another transaction holds are passed over,
    so two reviewers claiming at once get two different frames). SQLite: nothing, because a write
    transaction (``BEGIN IMMEDIATE``) holds the whole database already.
    """
    if conn.dialect.name == "sqlite":
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


def sql(statement: str, *lists: str) -> TextClause:
    """``text(statement)`` whose parameters named in ``lists`` take a sequence (``status IN :statuses``)."""
    return text(statement).bindparams(*(bindparam(name, expanding=True) for name in lists))
