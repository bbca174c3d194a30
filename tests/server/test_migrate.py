"""``edgelabel-collector migrate``: an embedded collector built by real processes (a CURVE agent on a
real clip into a real ``serve``, reviews, accounts, a synthesis run), moved into a real PostgreSQL
and a real S3 server (SeaweedFS), reads back the same through every command."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from server.cli import main as collector_main
from server.commands.export import FORMAT_NAMES
from server.db import open_database
from server.media import MediaStore
from server.review.queue import ReviewQueue
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import init_collector, start_collector

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
DEVICE = "pets-cam"

pytestmark = pytest.mark.slow


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, **kwargs)


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Path:
    """An embedded collector as the end-to-end test builds it, plus what people do with one: accounts,
    accepted, corrected and rejected frames, a gold frame and a synthesis run (its background is an image too)."""
    root = tmp_path_factory.mktemp("embedded")
    data_dir, credentials = root / "collector", root / "cam.toml"
    init_collector(data_dir)
    added = cli("keys", "add-device", DEVICE, "--data-dir", data_dir, "--endpoint", "tcp://127.0.0.1:5555",
                "--out", credentials)
    assert added.returncode == 0, added.stderr
    process, endpoint = start_collector(data_dir)
    try:
        agent = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
             "--credentials", str(credentials), "--collector", endpoint, "--json",
             "--spool-dir", str(root / "spool"), "--status-interval", "1", "--detect-every", "2"],
            capture_output=True, text=True, timeout=300)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert agent.returncode == 0, agent.stderr
    for name, role in (("alice", "reviewer"), ("root", "admin")):
        made = cli("users", "add", name, "--role", role, "--data-dir", data_dir, input="a long passphrase\n")
        assert made.returncode == 0, made.stderr
    with ReviewQueue.open(data_dir) as queue:
        frames = queue.next(limit=1000)
        for number, frame in enumerate(frames[:-2]):  # two stay pending
            queue.claim("alice", frame["id"])
            if number == 1:
                queue.submit("alice", frame["id"], "reject")
            elif number == 2:
                queue.submit("alice", frame["id"], "correct",
                             [{"x1": 10, "y1": 20, "x2": 90, "y2": 200, "class_name": "person"}])
            else:
                queue.submit("alice", frame["id"], "accept")
        queue.mark_gold("root", frames[0]["id"])
    made = cli("synthesize", "--data-dir", data_dir, "--device", DEVICE, "--classes", "person", "--count", "3",
               "--seed", "1", "--no-progress")
    assert made.returncode == 0, made.stderr
    return data_dir


def table_counts(data_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{data_dir / 'edgelabel.db'}?mode=ro", uri=True)
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                "AND name NOT LIKE 'sqlite_%' AND name != 'migrations'")]
        return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        conn.close()


def migrate(data_dir: Path, database: str | None, media: str | None, *extra: str, seaweedfs=None):
    targets = (["--to-database", database] if database else []) + (["--to-media", media] if media else [])
    return cli("migrate", "--from", data_dir, *targets, "--json", *extra,
               env=seaweedfs.environment() if seaweedfs else None)


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, with the export's own folder and times left out (the
    marker's ``created_at``, COCO's ``info.date_created``): everything else must be byte for byte the same."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes().replace(str(root).encode(), b"<export>")
            if path.name.startswith(".edgelabel"):
                marker = json.loads(data)
                marker.pop("created_at")
                data = json.dumps(marker, sort_keys=True).encode()
            elif path.suffix == ".json" and b'"date_created"' in data:  # COCO's (annotations/instances_*.json)
                coco = json.loads(data)
                coco["info"].pop("date_created")
                data = json.dumps(coco, sort_keys=True).encode()
            files[str(path.relative_to(root))] = data
    return files


def test_migrated_collector_gives_the_same_stats_exports_and_images(collector, postgres_cluster, seaweedfs,
                                                                     tmp_path, monkeypatch, capsys):
    database = postgres_cluster.new_database()
    bucket = f"s3://{seaweedfs.new_bucket()}/edgelabel"
    moved = migrate(collector, database, bucket, seaweedfs=seaweedfs)
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    counts = table_counts(collector)
    assert report["ok"] and report["differences"] == []
    assert {name: table["target_rows"] for name, table in report["tables"].items()} == counts
    assert counts["frames"] > 10 and counts["synthetic_frames"] == 3 and counts["gold_frames"] == 1
    assert report["media"]["verified"] == report["media"]["referenced"] == report["media"]["copied"] > counts["frames"] - 3
    target = ("--data-dir", tmp_path / "node", "--database", database)  # a new node: nothing local but its keys

    # The reading commands, in this process (a dozen interpreter starts would cost more than the checks).
    for name, value in seaweedfs.environment().items():
        monkeypatch.setenv(name, value)

    def command(*args) -> str:
        capsys.readouterr()
        assert collector_main([str(arg) for arg in args]) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    source_stats = json.loads(command("stats", "--data-dir", collector, "--json"))
    target_stats = json.loads(command("stats", *target, "--json"))
    assert source_stats.pop("database") != target_stats.pop("database")
    assert target_stats == source_stats

    for name in FORMAT_NAMES:
        common = ("--status", "all", "--include-synthetic", "--no-progress")
        command("export", name, "--data-dir", collector, "--out", tmp_path / f"source-{name}", *common)
        command("export", name, *target, "--media", bucket, "--out", tmp_path / f"target-{name}", *common)
        assert tree(tmp_path / f"target-{name}") == tree(tmp_path / f"source-{name}"), name

    local = MediaStore(collector / "media")
    s3 = seaweedfs.client()
    bucket_name = bucket[len("s3://"):].split("/")[0]
    for sha256 in [item.sha256 for item in local.iter_objects()]:
        key = f"edgelabel/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"
        assert s3.get_object(Bucket=bucket_name, Key=key)["Body"].read() == local.get(sha256)

    # Once more, after an object was damaged in the bucket from outside (same size, other bytes): no row
    # and no image is copied again but that one, found by its SHA-256.
    damaged = next(iter(local.iter_objects())).sha256
    damaged_key = f"edgelabel/{damaged[:2]}/{damaged[2:4]}/{damaged}.jpg"
    s3.put_object(Bucket=bucket_name, Key=damaged_key, Body=local.get(damaged)[::-1])
    again = migrate(collector, database, bucket, seaweedfs=seaweedfs)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["ok"] and not any(table["copied"] for table in second["tables"].values())
    assert second["media"]["copied"] == 0 and second["media"]["already_there"] == second["media"]["referenced"]
    assert second["media"]["repaired"] == 1 and second["media"]["verified"] == second["media"]["referenced"]
    assert s3.get_object(Bucket=bucket_name, Key=damaged_key)["Body"].read() == local.get(damaged)

    # New rows on the target get new ids: the identity sequences moved past the copied ones.
    with ReviewQueue.open(tmp_path / "node", database=database) as queue:
        frame = queue.claim("alice")
        queue.submit("alice", frame["id"], "accept")
    source = sqlite3.connect(f"file:{collector / 'edgelabel.db'}?mode=ro", uri=True)
    copied = source.execute("SELECT MAX(id) FROM review_events").fetchone()[0]
    source.close()
    with psycopg.connect(database) as conn:
        new = [row[0] for row in conn.execute("SELECT id FROM review_events WHERE id > %s ORDER BY id", [copied])]
    assert new and new[0] == copied + 1


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "crash"])
def test_an_interrupted_migration_goes_on_where_it_stopped(collector, postgres_cluster, seaweedfs, stop):
    database = postgres_cluster.new_database()
    bucket = f"s3://{seaweedfs.new_bucket()}/edgelabel"
    source = sqlite3.connect(f"file:{collector / 'edgelabel.db'}?mode=ro", uri=True)
    frame_ids = [row[0] for row in source.execute("SELECT id FROM frames ORDER BY id")]
    held = frame_ids[len(frame_ids) // 2]
    # A session of its own stores the middle frame (devices and models first, as a run would) and keeps
    # it uncommitted: the migration's batch holding that frame waits on its lock, and is stopped there.
    open_database(None, "create", database).close()
    blocker = psycopg.connect(database)
    for table, where in (("devices", ""), ("models", ""), ("frames", f" WHERE id = {held}")):
        cursor = source.execute(f"SELECT * FROM {table}{where}")
        columns = [column[0] for column in cursor.description]
        blocker.cursor().executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})", cursor.fetchall())
        if table == "models":
            blocker.commit()
    source.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "migrate", "--from", str(collector), "--to-database", database,
         "--to-media", bucket, "--batch-size", "3", "--no-progress"],
        env={**os.environ, **seaweedfs.environment()}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as at a terminal: a suite started in the background by a non-interactive shell (CI, nohup ... &)
        # ignores SIGINT, and an ignored SIGINT is inherited, so Python would never raise KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        waiting = _wait_for_a_lock_wait(database, process)
        assert waiting, f"the migration never waited on the held frame: {process.stderr.read() if process.poll() is not None else ''}"
        process.send_signal(stop)  # mid-table, while it waits on the held frame's lock
        _, stderr = process.communicate(timeout=120)
        if stop == signal.SIGINT:
            assert process.returncode == 130 and stderr.strip() == "edgelabel-collector migrate: interrupted", stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        blocker.rollback()
        blocker.close()
    with psycopg.connect(database) as conn:
        partial = conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    assert 0 < partial < len(frame_ids)

    resumed = migrate(collector, database, bucket, seaweedfs=seaweedfs)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["ok"], report["differences"]
    assert report["tables"]["frames"]["copied"] == len(frame_ids) - partial
    assert report["tables"]["frames"]["target_rows"] == len(frame_ids)
    assert report["media"]["copied"] == 0  # the images went first, before the rows, in the killed run
    assert report["media"]["already_there"] == report["media"]["verified"] == report["media"]["referenced"]


def _wait_for_a_lock_wait(database: str, process: subprocess.Popen, timeout_s: float = 120) -> bool:
    """Whether a session of ``database`` is seen waiting on a lock while ``process`` runs (polled, bounded)."""
    name = database.rsplit("/", 1)[1]
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database, autocommit=True) as conn:
        while process.poll() is None and time.monotonic() < deadline:
            if conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                            [name]).fetchone()[0]:
                return True
            time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def other_collector(tmp_path_factory) -> Path:
    """Another embedded collector: photos imported into it."""
    data_dir = tmp_path_factory.mktemp("other") / "collector"
    init_collector(data_dir)
    imported = cli("import", DATA_DIR / "images", "--data-dir", data_dir)
    assert imported.returncode == 0, imported.stderr
    return data_dir


def test_a_target_holding_another_collector_is_refused(collector, other_collector, postgres_cluster):
    database = postgres_cluster.new_database()
    first = migrate(collector, database, None)
    assert first.returncode == 0, first.stderr
    second = migrate(other_collector, database, None)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "already holds other data than this collector" in lines[0], second.stderr
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0] == table_counts(collector)["frames"]


def test_a_running_collector_is_refused_and_images_can_move_to_a_folder(other_collector, tmp_path):
    process, _ = start_collector(other_collector, "tcp://127.0.0.1:*", "--insecure")
    try:
        refused = migrate(other_collector, None, tmp_path / "media")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert refused.returncode == 2
    assert f"is open in process {process.pid}" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "media").exists()

    moved = migrate(other_collector, None, tmp_path / "media")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["media"]["verified"] == table_counts(other_collector)["frames"]
    source = MediaStore(other_collector / "media")
    assert sorted((tmp_path / "media").rglob("*.jpg")) and all(
        path.read_bytes() == source.path_for(path.stem).read_bytes() for path in (tmp_path / "media").rglob("*.jpg"))

    # A source image damaged on disk is not copied, and the verification says so (exit 1, one line).
    damaged = source.path_for(next(source.iter_objects()).sha256)
    original = damaged.read_bytes()
    try:
        damaged.write_bytes(original[::-1])
        failed = cli("migrate", "--from", other_collector, "--to-media", tmp_path / "elsewhere", "--no-progress")
    finally:
        damaged.write_bytes(original)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "verification failed" in failed.stderr
    assert "do not match their SHA-256" in failed.stderr and "VERIFICATION FAILED" in failed.stdout
