"""Which tables a migration copies, and in which order: read from the schema, never listed by hand.

Every table of the source except the ``migrations`` record (the target keeps its own, written by
its migration runner), so a table a new migration adds is copied without touching this module.
Parents come before the tables whose foreign keys name them (PostgreSQL checks each row's
references on insert); ties are broken by name so the order is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Integer, inspect

from server.migration.errors import MigrationError

BOOKKEEPING = frozenset({"migrations"})
"""Tables the migration runner owns: never copied."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...]
    """Empty when the table has none (then it is copied whole, in one transaction)."""
    integer_key: bool
    """A single integer key column: copying resumes after the largest key the target holds."""
    parents: frozenset[str]
    """Other tables its foreign keys reference."""


def copy_order(conn: Connection) -> list[TableInfo]:
    """The tables of ``conn``'s database to copy, parents first."""
    inspector = inspect(conn)
    tables = {}
    for name in inspector.get_table_names():
        if name in BOOKKEEPING:
            continue
        columns = inspector.get_columns(name)
        primary_key = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
        types = {column["name"]: column["type"] for column in columns}
        integer_key = len(primary_key) == 1 and isinstance(types[primary_key[0]], Integer)
        parents = frozenset(key["referred_table"] for key in inspector.get_foreign_keys(name)) - {name}
        tables[name] = TableInfo(name, tuple(column["name"] for column in columns), primary_key, integer_key,
                                 parents)
    return _parents_first(tables)


def _parents_first(tables: dict[str, TableInfo]) -> list[TableInfo]:
    ordered: list[TableInfo] = []
    placed: set[str] = set()
    waiting = dict(sorted(tables.items()))
    while waiting:
        ready = [name for name, table in waiting.items() if table.parents & set(tables) <= placed]
        if not ready:
            raise MigrationError("cannot order the tables for copying: their foreign keys form a cycle among "
                                 + ", ".join(waiting))
        for name in ready:
            ordered.append(waiting.pop(name))
            placed.add(name)
    return ordered


def check_same_tables(source: list[TableInfo], target: list[TableInfo], target_location: str) -> None:
    """The target (migrated by this edgelabel) must hold the same tables and columns as the source."""
    source_columns = {table.name: set(table.columns) for table in source}
    target_columns = {table.name: set(table.columns) for table in target}
    for name, columns in source_columns.items():
        if name not in target_columns:
            raise MigrationError(f"table {name} of the source is missing from {target_location}")
        if columns - target_columns[name]:
            raise MigrationError(f"table {name} of {target_location} lacks the source's columns "
                                 + ", ".join(sorted(columns - target_columns[name])))
