"""Statements of the ingest hot path, compiled once and run on the driver's cursor.

SQLAlchemy's work per ``Connection.execute`` (execution context, events, result wrapping) costs
about ten times what SQLite needs to insert one small row, and ingest runs about six statements per
frame. A :class:`HotStatement` is an ordinary ``text()`` statement with named parameters: it is
compiled by SQLAlchemy once per dialect, so the SQL and its parameter style stay the dialect's
(``?`` for SQLite, ``%(name)s`` for psycopg), and then runs on the DBAPI cursor of the caller's
connection, inside the caller's transaction. Driver errors surface as the driver's exceptions,
which :meth:`server.db.Database.errors` translates like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, TextClause, text


class HotStatement:
    def __init__(self, statement: str):
        self.statement: TextClause = text(statement)
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def execute(self, conn: Connection, params: dict):
        """Run once; the DBAPI cursor (``fetchone()``, ``rowcount``)."""
        sql, names = self._compile(conn)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(sql, params if names is None else [params[name] for name in names])
        return cursor

    def executemany(self, conn: Connection, rows: Iterable[dict]) -> None:
        sql, names = self._compile(conn)
        values = list(rows) if names is None else [[row[name] for name in names] for row in rows]
        if values:
            conn.connection.dbapi_connection.cursor().executemany(sql, values)

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        dialect = conn.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect)
            names = tuple(statement.positiontup) if statement.positional else None
            compiled = self._compiled[dialect.name] = (statement.string, names)
        return compiled
