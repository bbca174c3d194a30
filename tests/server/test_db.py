"""The database layer: one way to open, one transaction helper, migrations found per package and
databases made by the previous version (commit 0e2f366) upgraded without loss."""

import ast
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from server.auth.accounts import Accounts
from server.datadir import DB_FILENAME, DataDir
from server.db import open_database
from server.db.migrations import known_migrations
from server.errors import StoreError
from server.review.queue import ReviewQueue
from tests.server import _schema_0e2f366 as previous
from tests.server.test_datadir import frame

REPO_ROOT = Path(__file__).resolve().parents[2]


def table_dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sorted), and the schema, of the database at ``path``."""
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in tables}
        dump["sqlite_master"] = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return dump


def fill(path: Path) -> None:
    """Frames, detections, a device heartbeat, annotations, review events, reviews, an account and
    its session, a taxonomy class and a synthetic run, written as the previous version wrote them."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO devices VALUES ('cam-1', 1.0, 2.0, 2)")
        conn.execute("INSERT INTO models VALUES ('m', '[\"person\", \"car\"]')")
        for frame_id, status in ((1, "accepted"), (2, "pending")):
            conn.execute(
                "INSERT INTO frames (id, device, seq, capture_ts, source_ts, frame_index, received_at, width, height,"
                " model_id, media_sha256, media_bytes, phash, reasons, priority, status, review_priority,"
                " priority_factors) VALUES (?, 'cam-1', ?, 1.5, 0.5, 3, 2.0, 640, 480, 'm', ?, 100,"
                " '0123456789abcdef', '[\"novel\"]', 0.7, ?, 0.4, '{\"edge\": 0.7}')",
                [frame_id, frame_id, f"{frame_id:064x}", status])
            conn.execute("INSERT INTO detections (frame_id, x1, y1, x2, y2, score, class_id, class_name, track_id)"
                         " VALUES (?, 1, 2, 30, 40, 0.9, 0, 'person', 7)", [frame_id])
        conn.execute("INSERT INTO device_status VALUES ('cam-1', 2.0, 1.9, 'm', '{\"fps\": 4.5}')")
        conn.execute("INSERT INTO rejections VALUES ('', 'bad_header', 3, 'not JSON', 2.5)")
        conn.execute("INSERT INTO annotations (frame_id, x1, y1, x2, y2, class_name, track_id, source, detection_id,"
                     " author, created_at) VALUES (1, 1, 2, 30, 40, 'person', 7, 'model', 1, 'alice', 3.0)")
        conn.execute("INSERT INTO review_events (frame_id, user, action, at, details)"
                     " VALUES (1, 'alice', 'accept', 3.0, '{\"status\": \"accepted\"}')")
        conn.execute("INSERT INTO reviews (frame_id, reviewer, kind, verdict, labels, at)"
                     " VALUES (1, 'alice', 'first', 'accepted', '[]', 3.0)")
        conn.execute("INSERT INTO accounts (name, role, password, created_at) VALUES ('alice', 'admin', 'x', 1.0)")
        conn.execute("INSERT INTO sessions VALUES ('ab', 'alice', 'csrf', 1.0, 9e9)")
        conn.execute("INSERT INTO taxonomy_classes VALUES ('pedestrian', 'Anyone on foot.', 0, 'alice', 1.0)")
        conn.execute("INSERT INTO taxonomy_aliases VALUES ('walker', 'pedestrian'), ('ped', 'pedestrian')")
        conn.execute("INSERT INTO synthetic_runs (device, classes, requested, seed, settings, background_sha256,"
                     " started_at) VALUES ('cam-1', '[\"person\"]', 1, 0, '{}', 'ab', 1.0)")
    conn.close()


# --- upgrading databases of the previous version ------------------------------------------------------


def test_a_database_of_the_previous_version_opens_unchanged(tmp_path):
    previous.build(tmp_path / DB_FILENAME)
    fill(tmp_path / DB_FILENAME)
    before = table_dump(tmp_path / DB_FILENAME)

    DataDir.open(tmp_path).close()

    after = table_dump(tmp_path / DB_FILENAME)
    # Every row as it was, but for what the migrations added since do, recorded after the others:
    # 0008 (imported frames' source file) and 0012 (what the edge redacted) give each frame NULL
    # columns; 0009 adds an empty change log of the duplicate index; 0010 (login throttling) moves
    # the accounts' failure counts to a table of their own; 0011 numbers taxonomy aliases; 0013 points
    # each track at its best view; 0014 adds an empty model registry, 0015 empty deployments and reports.
    added = ["0008_frame_source", "0009_dedup_index_changes", "0010_login_throttle", "0011_alias_position",
             "0012_redaction", "0013_best_views", "0014_models", "0015_deployments"]
    assert after["frames"] == [row + (None, None, None) for row in before["frames"]]
    assert [name for name, _ in after["migrations"]] == [name for name, _ in before["migrations"]] + added
    assert after["migrations"][:-len(added)] == before["migrations"]
    assert after["dedup_index_changes"] == [] and after["login_throttle"] == [] and after["model_registry"] == []
    assert after["model_deployments"] == [] and after["model_reports"] == []
    # Track 7's two boxes are equal (29 x 38): the earlier frame is its best view.
    assert after["track_best_views"] == [("cam-1", 7, 1, 29.0 * 38.0)]
    assert after["accounts"] == [row[:4] for row in before["accounts"]]
    assert sorted(after["taxonomy_aliases"]) == [("ped", "pedestrian", 1), ("walker", "pedestrian", 0)]
    unchanged = set(before) - {"frames", "accounts", "taxonomy_aliases", "migrations", "sqlite_master"}
    assert {table: after[table] for table in unchanged} == {table: before[table] for table in unchanged}
    with ReviewQueue.open(tmp_path) as queue:
        assert queue.frame(1)["annotations"][0]["author"] == "alice"
        assert [f["id"] for f in queue.next()] == [2]
    with Accounts.open(tmp_path) as accounts:
        assert accounts.list() == [{"name": "alice", "role": "admin", "created_at": 1.0}]


def test_a_database_of_an_older_version_gets_the_missing_migrations_and_keeps_its_rows(tmp_path):
    previous.build(tmp_path / DB_FILENAME, upto=4)  # before consistency, taxonomy and synthesis
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("INSERT INTO accounts (name, role, password, created_at) VALUES ('bob', 'reviewer', 'x', 1.0)")
    conn.close()
    old = table_dump(tmp_path / DB_FILENAME)

    with pytest.raises(StoreError, match="older schema.*0005_consistency"):
        open_database(tmp_path, "current")
    with DataDir.open(tmp_path) as store:
        store.store_frames([frame("cam-1", 1)])

    upgraded = table_dump(tmp_path / DB_FILENAME)
    assert upgraded["accounts"] == [row[:4] for row in old["accounts"]]  # failure counts: 0010_login_throttle
    assert [name for name, _ in upgraded["migrations"]] == [migration.name for migration in known_migrations()]
    assert upgraded["migrations"][:4] == old["migrations"]
    # The upgraded file has exactly the schema of a previous version's file upgraded by this one.
    assert upgraded["sqlite_master"] == upgraded_reference_schema(tmp_path / "reference")


def upgraded_reference_schema(data_dir: Path) -> list[tuple]:
    """The schema of a database the previous version made, once this version has opened it."""
    data_dir.mkdir()
    previous.build(data_dir / DB_FILENAME)
    DataDir.open(data_dir).close()
    return table_dump(data_dir / DB_FILENAME)["sqlite_master"]


def test_a_new_database_has_the_schema_of_an_upgraded_one_of_the_previous_version(tmp_path):
    DataDir.open(tmp_path / "new").close()
    assert table_dump(tmp_path / "new" / DB_FILENAME)["sqlite_master"] == upgraded_reference_schema(tmp_path / "old")


# --- migrations are files, found per package ----------------------------------------------------------------


def test_migrations_are_files_of_their_feature_packages_with_the_names_recorded_so_far():
    owners = {migration.name: migration.package for migration in known_migrations()}
    assert owners == {"0001_initial": "ingest", "0002_device_status": "ingest", "0003_dedup_and_review": "review",
                      "0004_accounts": "auth", "0005_consistency": "consistency", "0006_taxonomy": "taxonomy",
                      "0007_synthetic": "synthetic", "0008_frame_source": "importers",
                      "0009_dedup_index_changes": "dedup", "0010_login_throttle": "auth",
                      "0011_alias_position": "taxonomy", "0012_redaction": "ingest",
                      "0013_best_views": "review", "0014_models": "models",
                      "0015_deployments": "models"}
    for name, package in owners.items():
        assert (REPO_ROOT / "server" / package / "migrations" / f"{name}.py").is_file()


def test_the_database_layer_imports_no_feature_package():
    for path in (REPO_ROOT / "server" / "db").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("server"):
                assert node.module in ("server.db", "server.db.database", "server.db.ddl", "server.errors",
                                       "server.file_modes"), \
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {node.module}"


def test_two_processes_opening_a_new_database_at_once_apply_each_migration_once(tmp_path, database):
    errors = []

    def open_it():
        try:
            DataDir.open(tmp_path, database=database).close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with open_database(tmp_path, "current", database) as db, db.read() as conn:
        names = list(conn.execute(text("SELECT name FROM migrations ORDER BY name")).scalars())
    assert names == [migration.name for migration in known_migrations()]


# --- one engine, one transaction helper --------------------------------------------------------------------


def test_a_write_is_rolled_back_whole_when_its_block_fails(tmp_path, database):
    with open_database(tmp_path, "create", database) as db:
        with pytest.raises(RuntimeError), db.write() as conn:
            conn.execute(text("INSERT INTO accounts (name, role, password, created_at) VALUES ('a', 'admin', 'x', 1)"))
            raise RuntimeError("halfway")
        with db.read() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar_one() == 0


def test_driver_errors_become_one_line_store_errors_saying_what_failed(tmp_path, database):
    with open_database(tmp_path, "create", database) as db:
        with pytest.raises(StoreError, match=r"cannot add the account .*(UNIQUE constraint failed|duplicate key)") \
                as error, \
                db.write("add the account") as conn:
            for _ in range(2):
                conn.execute(text("INSERT INTO accounts (name, role, password, created_at) VALUES ('a', 'admin', 'x', 1)"))
    assert "\n" not in str(error.value)


def test_a_write_takes_the_lock_up_front(tmp_path):
    """BEGIN IMMEDIATE: a second writer waits at BEGIN, not halfway through its transaction."""
    with open_database(tmp_path, "create") as db:
        with db.write() as conn:
            other = sqlite3.connect(tmp_path / DB_FILENAME, timeout=0.05)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_serve_shares_one_database_between_ingest_and_the_web(tmp_path):
    from server.web.site import create_site

    with DataDir.open(tmp_path) as store:
        app = create_site(tmp_path, db=store.db)
        assert app.state.queue.db is store.db and app.state.accounts.db is store.db
        assert app.state.owned_db is None


def test_hot_statements_keep_the_dialects_parameter_style():
    from types import SimpleNamespace

    from sqlalchemy.dialects import postgresql, sqlite

    from server.db.hot_path import HotStatement

    statement = HotStatement("INSERT INTO dedup_groups (id, representative_id, created_at, updated_at)"
                             " VALUES (:id, :id, :now, :now)")
    sql, names = statement._compile(SimpleNamespace(dialect=sqlite.dialect()))
    assert sql.endswith("VALUES (?, ?, ?, ?)") and names == ("id", "id", "now", "now")
    sql, names = statement._compile(SimpleNamespace(dialect=postgresql.dialect()))
    assert sql.endswith("VALUES (%(id)s, %(id)s, %(now)s, %(now)s)") and names is None


def test_hot_statements_run_on_the_driver_of_each_backend(tmp_path, database):
    from server.db.hot_path import HotStatement

    insert = HotStatement("INSERT INTO devices (name, first_seen, last_seen) VALUES (:name, :at, :at)"
                          " ON CONFLICT (name) DO NOTHING")
    count = HotStatement("SELECT COUNT(*) FROM devices WHERE first_seen = :at AND last_seen = :at")
    with open_database(tmp_path, "create", database) as db:
        with db.write() as conn:
            insert.executemany(conn, [{"name": "cam-1", "at": 1.5}, {"name": "cam-2", "at": 1.5}])
            assert insert.execute(conn, {"name": "cam-1", "at": 1.5}).rowcount == 0  # the conflict: nothing
        with db.read() as conn:
            assert count.execute(conn, {"at": 1.5}).fetchone()[0] == 2


def test_postgres_urls_are_opened_on_psycopg_and_shown_without_password(postgres_cluster):
    from server.db.database import display_url, normalize_url

    assert normalize_url("postgresql://u:pw@h/db") == normalize_url("postgres://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert display_url("postgresql+psycopg://u:pw@h:5/db") == "postgresql+psycopg://u:***@h:5/db"
    with pytest.raises(StoreError, match="expected postgresql://USER@HOST"):
        normalize_url("mysql://h/db")
    url = postgres_cluster.new_database()
    with open_database(None, "create", url) as db:
        assert db.engine.dialect.driver == "psycopg"
    with open_database(None, "readonly", url) as db, \
            pytest.raises(StoreError, match="read-only transaction"), db.read() as conn:
        conn.execute(text("DELETE FROM frames"))


def test_a_missing_postgres_driver_is_one_line_naming_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without the extra sees
    with pytest.raises(StoreError, match=r"^PostgreSQL needs the psycopg driver: pip install 'edgelabel\[postgres\]'$"):
        open_database(None, "create", "postgresql://edgelabel@127.0.0.1:1/edgelabel")
