"""The migration runner: finds every feature package's migration files and applies them in order.

A migration is a file ``server/<package>/migrations/NNNN_name.py`` with ``upgrade(conn)`` (an
SQLAlchemy connection inside the runner's write transaction). Its name (``NNNN_name``) is what the
``migrations`` table records; the number orders migrations across packages and is unique. Add a
new file with the next number; never edit, rename or renumber an applied one.
"""

from __future__ import annotations

import importlib
import importlib.resources
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, inspect, text

from server.db.database import Database
from server.db.ddl import execute_ddl
from server.errors import StoreError

_FILE = re.compile(r"(\d{4})_\w+\.py")

# The table as every edgelabel so far has created it (sqlite-utils wrote this DDL).
_CREATE_MIGRATIONS_TABLE = (
    'CREATE TABLE IF NOT EXISTS "migrations" (\n   "name" TEXT PRIMARY KEY,\n   "applied_at" REAL NOT NULL\n)'
)


@dataclass(frozen=True)
class Migration:
    name: str
    """``NNNN_name``, as recorded in the ``migrations`` table."""
    package: str
    """The feature package that owns it (``server.<package>``)."""
    upgrade: Callable[[Connection], None]


@cache
def known_migrations() -> tuple[Migration, ...]:
    """Every ``server/*/migrations/NNNN_*.py``, in number order."""
    found = []
    for package in importlib.resources.files("server").iterdir():
        folder = package / "migrations"
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            if _FILE.fullmatch(file.name):
                name = file.name.removesuffix(".py")
                module = importlib.import_module(f"server.{package.name}.migrations.{name}")
                found.append(Migration(name, package.name, module.upgrade))
    found.sort(key=lambda migration: migration.name)
    numbers = [migration.name[:4] for migration in found]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise RuntimeError(f"migration numbers used twice: {', '.join(repeated)}")
    return tuple(found)


def check_known_schema(db: Database) -> set[str]:
    """Names of the applied migrations; refuses foreign databases and newer schemas."""
    with db.read("read the schema") as conn:
        tables = set(inspect(conn).get_table_names())
        if "migrations" not in tables:
            if tables:
                raise StoreError(f"{db.location} is not an edgelabel database (it has tables but no migrations record)")
            return set()
        try:
            applied = set(conn.execute(text("SELECT name FROM migrations")).scalars())
        except Exception:
            raise StoreError(f"{db.location} is not an edgelabel database (unexpected migrations table)") from None
    known = [migration.name for migration in known_migrations()]
    if applied and known[0] not in applied:
        raise StoreError(f"{db.location} is not an edgelabel database (unknown migrations record)")
    newer = sorted(applied - set(known))
    if newer:
        raise StoreError(f"database {db.location} was written by a newer edgelabel (unknown migrations: "
                         f"{', '.join(newer)}); upgrade this collector")
    return applied


def missing(applied: set[str]) -> list[str]:
    """Known migrations not in ``applied``, in order."""
    return [migration.name for migration in known_migrations() if migration.name not in applied]


def migrate(db: Database) -> list[str]:
    """Apply what is missing, each migration in its own write transaction; the names applied."""
    with db.write("create the migrations table") as conn:
        _lock_migrations(conn)
        execute_ddl(conn, _CREATE_MIGRATIONS_TABLE)
    applied = []
    for migration in known_migrations():
        with db.write(f"apply migration {migration.name}") as conn:
            _lock_migrations(conn)
            # Re-checked under the write lock: another process may have applied it meanwhile.
            if conn.execute(text("SELECT 1 FROM migrations WHERE name = :name"), {"name": migration.name}).first():
                continue
            migration.upgrade(conn)
            conn.execute(text("INSERT INTO migrations (name, applied_at) VALUES (:name, :at)"),
                         {"name": migration.name, "at": time.time()})
            applied.append(migration.name)
    return applied


def _lock_migrations(conn: Connection) -> None:
    """The migration lock: SQLite's write lock is one already; PostgreSQL takes a transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('edgelabel migrations'))"))
