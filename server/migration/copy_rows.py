"""Copying the rows: table by table in foreign-key order, ids kept, one transaction per batch.

Resuming is built in. Batches are read and committed in key order, so for a table with an
integer key every row up to the largest id in the target is there already, and the copy goes on
after it. Other tables (names, composite keys: all small) are read whole again, and ``ON
CONFLICT DO NOTHING`` on their key keeps what the target has. A table without any key is copied
in one transaction, replacing what a failed attempt may have left.

Before anything is written, :func:`check_same_collector` makes sure the target is empty or holds
this source's rows (an earlier, interrupted run), so two collectors are never mixed in one database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import Connection, MetaData, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from server.db import Database
from server.migration.errors import MigrationError
from server.migration.tables import TableInfo

SAMPLE_ROWS = 20
"""Rows read at each end of every non-empty target table to recognize an earlier run of this migration."""

Progress = Callable[..., object]
"""``progress(total=N, desc=..., unit=...)`` returning an object with ``update(n)`` and ``close()`` (tqdm's shape)."""


class NoProgress:
    def __init__(self, total: int = 0, desc: str = "", unit: str = ""):
        pass

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def count_rows(db: Database, table: str) -> int:
    with db.read(f"count the rows of {table}") as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {_quote(conn, table)}")).scalar_one()


def check_same_collector(source: Database, target: Database, tables: Sequence[TableInfo]) -> None:
    """:class:`MigrationError` unless every row the target holds is a row of the source, as it is there.

    Counts are compared for every table, and the first and last :data:`SAMPLE_ROWS` rows by key
    are looked up in the source: enough to tell another collector's database (whose ids, devices,
    times and digests differ) from an interrupted run of this one, without reading everything twice.
    """
    for table in tables:
        held = count_rows(target, table.name)
        if not held:
            continue
        refusal = (f"{target.location} already holds other data than this collector (table {table.name}: {{}}); "
                   "migrate into an empty database, or resume only from the same, unchanged source")
        if held > count_rows(source, table.name):
            raise MigrationError(refusal.format(f"{held} rows, more than the source has"))
        if not table.primary_key:
            continue
        for key, row in _sample(target, table):
            found = _row_by_key(source, table, key)
            if found != row:
                described = ", ".join(f"{name}={value!r}" for name, value in zip(table.primary_key, key))
                raise MigrationError(refusal.format(f"row {described} "
                                                    + ("is not in the source" if found is None else "differs")))


def copy_table(source: Database, target: Database, table: TableInfo, batch_size: int,
               progress: Progress = NoProgress) -> int:
    """Copy what the target lacks of one table; the number of rows it holds afterwards minus before."""
    before = count_rows(target, table.name)
    total = count_rows(source, table.name)
    if not table.primary_key:
        if before != total:
            _replace_whole(source, target, table, batch_size)
        return count_rows(target, table.name) - before
    after = _largest_key(target, table) if table.integer_key else None
    insert = _insert(target, table)
    bar = progress(total=total, desc=table.name, unit="row")
    if after is not None:
        bar.update(before)  # rows up to the target's largest id are not read again
    try:
        with source.read(f"read {table.name}") as conn:
            for batch in _batches(conn, table, batch_size, after):
                with target.write(f"copy rows into {table.name}") as out:
                    out.execute(insert, batch)
                bar.update(len(batch))
    finally:
        bar.close()
    return count_rows(target, table.name) - before


def reset_sequences(target: Database, tables: Sequence[TableInfo]) -> list[str]:
    """Move each identity sequence past the largest copied id (PostgreSQL), so new rows do not collide.

    Returns the tables whose sequence was set. SQLite numbers rows after the largest id by itself.
    """
    if target.engine.dialect.name != "postgresql":
        return []
    done = []
    with target.write("reset the id sequences") as conn:
        for table in tables:
            if not table.integer_key:
                continue
            quoted = _quote(conn, table.name)
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:table, :column)"),
                                    {"table": quoted, "column": table.primary_key[0]}).scalar()
            if sequence is None:
                continue  # a given key (frame_id of a per-frame table), not numbered by the database
            column = _quote(conn, table.primary_key[0])
            conn.execute(text(f"SELECT setval(:sequence, COALESCE(MAX({column}), 0) + 1, false) FROM {quoted}"),
                         {"sequence": sequence})
            done.append(table.name)
    return done


def _batches(conn: Connection, table: TableInfo, batch_size: int, after: int | None) -> Iterator[list[dict]]:
    columns = ", ".join(_quote(conn, column) for column in table.columns)
    order = ", ".join(_quote(conn, column) for column in table.primary_key) if table.primary_key else "1"
    where = f" WHERE {_quote(conn, table.primary_key[0])} > :after" if after is not None else ""
    result = conn.execution_options(yield_per=batch_size).execute(
        text(f"SELECT {columns} FROM {_quote(conn, table.name)}{where} ORDER BY {order}"), {"after": after})
    for rows in result.partitions(batch_size):
        yield [dict(zip(table.columns, row)) for row in rows]


def _replace_whole(source: Database, target: Database, table: TableInfo, batch_size: int) -> None:
    """A table without a key: its rows cannot be matched, so the target's are replaced in one transaction."""
    insert = _insert(target, table)
    with source.read(f"read {table.name}") as conn, target.write(f"copy rows into {table.name}") as out:
        out.execute(text(f"DELETE FROM {_quote(out, table.name)}"))
        for batch in _batches(conn, table, batch_size, None):
            out.execute(insert, batch)


def _insert(target: Database, table: TableInfo):
    """The target's INSERT for the table's rows (skipping rows whose key it holds), from its reflected columns."""
    with target.read(f"read the columns of {table.name}") as conn:
        reflected = Table(table.name, MetaData(), autoload_with=conn)
    if not table.primary_key:
        return reflected.insert()
    dialect = postgresql if target.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(reflected).on_conflict_do_nothing(index_elements=list(table.primary_key))


def _largest_key(db: Database, table: TableInfo) -> int | None:
    with db.read(f"read the largest id of {table.name}") as conn:
        return conn.execute(text(f"SELECT MAX({_quote(conn, table.primary_key[0])}) "
                                 f"FROM {_quote(conn, table.name)}")).scalar()


def _sample(db: Database, table: TableInfo) -> list[tuple[tuple, tuple]]:
    """(key, row) of the first and last rows of the table by key."""
    with db.read(f"read {table.name}") as conn:
        columns = ", ".join(_quote(conn, column) for column in table.columns)
        found = []
        for direction in ("ASC", "DESC"):
            order = ", ".join(f"{_quote(conn, column)} {direction}" for column in table.primary_key)
            found += conn.execute(text(f"SELECT {columns} FROM {_quote(conn, table.name)} ORDER BY {order} "
                                       f"LIMIT {SAMPLE_ROWS}")).all()
    positions = [table.columns.index(column) for column in table.primary_key]
    return [(tuple(row[i] for i in positions), tuple(row)) for row in found]


def _row_by_key(db: Database, table: TableInfo, key: tuple) -> tuple | None:
    with db.read(f"read {table.name}") as conn:
        columns = ", ".join(_quote(conn, column) for column in table.columns)
        where = " AND ".join(f"{_quote(conn, column)} = :k{i}" for i, column in enumerate(table.primary_key))
        row = conn.execute(text(f"SELECT {columns} FROM {_quote(conn, table.name)} WHERE {where}"),
                           {f"k{i}": value for i, value in enumerate(key)}).first()
    return None if row is None else tuple(row)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)
