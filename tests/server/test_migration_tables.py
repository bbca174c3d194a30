"""The parts of ``migrate`` that need no agent: which tables it finds and in which order, and how a
table's rows are copied again after an interruption, on SQLite and PostgreSQL targets."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.db import open_database
from server.migration.copy_rows import check_same_collector, copy_table, count_rows
from server.migration.errors import MigrationError
from server.migration.run import copy_order_of


@pytest.fixture
def source(tmp_path):
    db = open_database(tmp_path / "source", "create")
    yield db
    db.close()


def test_a_table_a_new_migration_adds_is_found_and_ordered_after_its_parents(source):
    with source.write() as conn:
        conn.execute(text("CREATE TABLE node_notes (id INTEGER PRIMARY KEY, "
                          "frame_id INTEGER NOT NULL REFERENCES frames (id), note TEXT NOT NULL) STRICT"))
    names = [table.name for table in copy_order_of(source)]
    assert "migrations" not in names and "node_notes" in names
    assert names.index("devices") < names.index("frames") < names.index("node_notes")
    assert names.index("dedup_groups") < names.index("frame_signatures")  # declared the other way round
    for table in copy_order_of(source):
        assert all(names.index(parent) < names.index(table.name) for parent in table.parents)
    notes = next(table for table in copy_order_of(source) if table.name == "node_notes")
    assert notes.integer_key and notes.primary_key == ("id",)


def test_foreign_keys_in_a_cycle_are_one_clear_error(source):
    with source.write() as conn:
        conn.execute(text("CREATE TABLE hens (id INTEGER PRIMARY KEY, egg INTEGER REFERENCES eggs (id))"))
        conn.execute(text("CREATE TABLE eggs (id INTEGER PRIMARY KEY, hen INTEGER REFERENCES hens (id))"))
    with pytest.raises(MigrationError, match="cycle among eggs, hens"):
        copy_order_of(source)


@pytest.mark.parametrize("key", ["id INTEGER PRIMARY KEY", "name TEXT PRIMARY KEY", ""])
def test_copying_a_table_twice_or_after_a_partial_copy_stores_each_row_once(source, tmp_path, database, key):
    target = open_database(tmp_path / "target", "create", database)
    try:
        columns = f"{key}, " if key else ""
        for db in (source, target):
            with db.write() as conn:
                conn.execute(text(f"CREATE TABLE notes ({columns}{'name TEXT, ' if not key.startswith('name') else ''}"
                                  "body TEXT NOT NULL)"))
        with source.write() as conn:
            rows = [{"name": f"n{i:03}", "body": f"body {i}"} for i in range(1, 26)]
            if key.startswith("id"):
                conn.execute(text("INSERT INTO notes (id, name, body) VALUES (:id, :name, :body)"),
                             [{"id": i * 3, **row} for i, row in enumerate(rows, 1)])
            else:
                conn.execute(text("INSERT INTO notes (name, body) VALUES (:name, :body)"), rows)
        notes = next(table for table in copy_order_of(source) if table.name == "notes")
        # What an interrupted run leaves: the first rows, committed in key order.
        with source.read() as conn, target.write() as out:
            first = conn.execute(text("SELECT * FROM notes ORDER BY " + (notes.primary_key or ("name",))[0]
                                      + " LIMIT 10")).mappings().all()
            out.execute(text(f"INSERT INTO notes ({', '.join(first[0].keys())}) VALUES "
                             f"({', '.join(':' + name for name in first[0].keys())})"), [dict(row) for row in first])
        check_same_collector(source, target, [notes])
        assert copy_table(source, target, notes, batch_size=4) == 15
        assert copy_table(source, target, notes, batch_size=4) == 0
        assert count_rows(target, "notes") == 25
        with source.read() as conn, target.read() as out:
            query = text("SELECT name, body FROM notes ORDER BY name")
            assert out.execute(query).all() == conn.execute(query).all()
    finally:
        target.close()


def test_a_target_with_rows_the_source_lacks_is_refused(source, tmp_path, database):
    target = open_database(tmp_path / "target", "create", database)
    try:
        with target.write() as conn:
            conn.execute(text("INSERT INTO accounts (name, role, password, created_at) "
                              "VALUES ('mallory', 'admin', 'x', 0)"))
        with pytest.raises(MigrationError, match="table accounts: 1 rows, more than the source has"):
            check_same_collector(source, target, copy_order_of(source))
        with source.write() as conn:
            conn.execute(text("INSERT INTO accounts (name, role, password, created_at) VALUES ('alice', 'admin', 'x', 0)"))
        with pytest.raises(MigrationError, match="row name='mallory' is not in the source"):
            check_same_collector(source, target, copy_order_of(source))
    finally:
        target.close()
