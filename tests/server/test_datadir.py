import errno
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import pytest
from sqlalchemy import text

from edge.contract.wire import NO_TRACK, FrameHeader, Labels
from server.datadir import DB_FILENAME, DataDir
from server.db import database as database_module
from server.db import migrations as migrations_module
from server.db.migrations import Migration, known_migrations
from server.errors import StoreError
from server.ingest import rejections as rejections_module
from server.media import MediaStore
from server.media import local as media_module
from tests.server._paths import IMAGES_DIR

CLASSES = ("person", "bicycle", "car", "motorcycle", "airplane", "bus")
REPO_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=None)
def real_jpeg(name: str) -> tuple[bytes, int, int]:
    image = cv2.imread(str(IMAGES_DIR / name))
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buffer.tobytes(), image.shape[1], image.shape[0]


def frame(device: str, seq: int, image: str = "yolov5_bus.jpg", labels: Labels | None = None) -> tuple[FrameHeader, bytes]:
    jpeg, width, height = real_jpeg(image)
    if labels is None:
        labels = Labels(
            xyxy=((10.0, 20.0, 110.0, 220.0), (200.0, 50.0, 400.0, 300.0)),
            score=(0.91, 0.4),
            class_id=(0, 5),
            track_id=(3, NO_TRACK),
        )
    header = FrameHeader(
        device=device,
        seq=seq,
        capture_ts=1_700_000_000.0 + seq,
        width=width,
        height=height,
        model_id="yolox_nano-test",
        class_names=CLASSES,
        labels=labels,
        reasons=("novel", "track_start"),
        priority=0.75,
        phash="0123456789abcdef",
        frame_index=seq * 5,
        source_ts=seq * 0.2,
    )
    return header, jpeg


@pytest.fixture
def store(tmp_path, database):
    """A writable data directory on each backend (``database``: SQLite in it, or a PostgreSQL URL)."""
    with DataDir.open(tmp_path / "data", database=database) as opened:
        yield opened


def raw_count(store: DataDir, table: str) -> int:
    with store.db.read() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# --- opening and migrations ------------------------------------------------------------------------


def test_open_creates_the_schema_and_records_migrations(tmp_path):
    data_dir = tmp_path / "new" / "data"
    DataDir.open(data_dir).close()

    with sqlite3.connect(data_dir / DB_FILENAME) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = conn.execute("SELECT name FROM migrations ORDER BY name").fetchall()
    assert {"migrations", "devices", "models", "frames", "detections", "rejections"} <= tables
    assert [name for (name,) in applied] == [migration.name for migration in known_migrations()]


def test_reopening_applies_nothing_twice(tmp_path):
    DataDir.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        first = conn.execute("SELECT name, applied_at FROM migrations").fetchall()

    DataDir.open(tmp_path).close()

    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("SELECT name, applied_at FROM migrations").fetchall() == first


def test_reopening_applies_only_new_migrations(tmp_path, monkeypatch):
    DataDir.open(tmp_path).close()
    calls = []

    def add_notes(conn):
        calls.append(1)
        conn.execute(text("ALTER TABLE frames ADD COLUMN notes TEXT"))

    known = known_migrations()
    monkeypatch.setattr(migrations_module, "known_migrations", lambda: (*known, Migration("9000_notes", "test", add_notes)))
    DataDir.open(tmp_path).close()
    DataDir.open(tmp_path).close()

    assert calls == [1]
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert "notes" in [row[1] for row in conn.execute("PRAGMA table_info(frames)")]
        assert conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(known) + 1


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path, monkeypatch):
    DataDir.open(tmp_path).close()

    def broken(conn):
        conn.execute(text("ALTER TABLE frames ADD COLUMN notes TEXT"))
        raise sqlite3.OperationalError("disk I/O error")

    known = known_migrations()
    monkeypatch.setattr(migrations_module, "known_migrations", lambda: (*known, Migration("9000_broken", "test", broken)))
    with pytest.raises(StoreError, match="disk I/O error"):
        DataDir.open(tmp_path)

    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert "notes" not in [row[1] for row in conn.execute("PRAGMA table_info(frames)")]
        assert conn.execute("SELECT COUNT(*) FROM migrations WHERE name = '9000_broken'").fetchone()[0] == 0


def test_writer_pragmas(tmp_path):
    with DataDir.open(tmp_path) as store, store.db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def execute(store: DataDir, statement: str) -> None:
    with store.db.write() as conn:
        conn.execute(text(statement))


def test_a_newer_schema_is_refused(tmp_path):
    DataDir.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")

    with pytest.raises(StoreError, match="newer edgelabel.*9999_from_the_future"):
        DataDir.open(tmp_path)
    with pytest.raises(StoreError, match="newer edgelabel"):
        DataDir.open_readonly(tmp_path)


def test_a_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path):
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    conn.close()

    with pytest.raises(StoreError, match="not an edgelabel database"):
        DataDir.open(tmp_path)
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    (tmp_path / DB_FILENAME).write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(StoreError, match="not an edgelabel database") as error:
        DataDir.open(tmp_path)
    assert "\n" not in str(error.value)


def test_a_data_dir_that_cannot_be_created_is_a_store_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create data directory"):
        DataDir.open(blocker / "data")


def test_open_readonly_needs_an_existing_database(tmp_path):
    with pytest.raises(StoreError, match="no edgelabel database"):
        DataDir.open_readonly(tmp_path)
    assert not (tmp_path / DB_FILENAME).exists()


# --- storing frames --------------------------------------------------------------------------------


def test_store_then_duplicate(store, monkeypatch):
    puts = []
    real_put_many = MediaStore.put_many
    monkeypatch.setattr(MediaStore, "put_many", lambda self, jpegs: puts.extend(jpegs) or real_put_many(self, jpegs))

    assert store.store_frames([frame("cam-1", 1)]) == [True]
    assert store.store_frames([frame("cam-1", 1)]) == [False]

    assert len(puts) == 1
    assert raw_count(store, "frames") == 1
    assert raw_count(store, "detections") == 2
    assert store.stats()["devices"]["cam-1"]["frames"] == 1


def test_the_same_frame_twice_in_one_batch_is_stored_once(store):
    assert store.store_frames([frame("cam-1", 1), frame("cam-1", 1), frame("cam-1", 2)]) == [True, False, True]
    assert [(row["device"], row["seq"]) for row in store.frame_rows()] == [("cam-1", 1), ("cam-1", 2)]


def test_the_same_seq_from_another_device_is_another_frame(store):
    assert store.store_frames([frame("cam-1", 1)]) == [True]
    assert store.store_frames([frame("cam-2", 1)]) == [True]
    assert sorted(row["device"] for row in store.frame_rows()) == ["cam-1", "cam-2"]


def test_a_duplicate_in_a_mixed_batch_does_not_block_the_new_frames(store):
    store.store_frames([frame("cam-1", 1)])
    assert store.store_frames([frame("cam-1", 1), frame("cam-1", 2)]) == [False, True]


def test_frame_row_keeps_the_header_and_its_media(store):
    header, jpeg = frame("cam-1", 4)
    store.store_frames([(header, jpeg)])

    (row,) = store.frame_rows()
    assert row["capture_ts"] == header.capture_ts
    assert (row["source_ts"], row["frame_index"]) == (header.source_ts, header.frame_index)
    assert (row["width"], row["height"]) == (header.width, header.height)
    assert row["model_id"] == header.model_id
    assert row["reasons"] == ["novel", "track_start"]
    assert (row["priority"], row["phash"], row["status"]) == (0.75, "0123456789abcdef", "pending")
    assert row["media_bytes"] == len(jpeg)
    assert store.media.path_for(row["media_sha256"]).read_bytes() == jpeg
    with store.db.read() as conn:
        class_names = conn.execute(text("SELECT class_names FROM models WHERE id = :id"), {"id": header.model_id}).scalar()
    assert tuple(json.loads(class_names)) == CLASSES


def test_detections_are_stored_with_class_names(store):
    store.store_frames([frame("cam-1", 1)])

    (stored,) = list(store.iter_frames())
    detections = stored["detections"]
    assert [(d["class_id"], d["class_name"]) for d in detections] == [(0, "person"), (5, "bus")]
    assert [(d["x1"], d["y1"], d["x2"], d["y2"]) for d in detections] == [(10, 20, 110, 220), (200, 50, 400, 300)]
    assert [d["score"] for d in detections] == [0.91, 0.4]
    assert [d["track_id"] for d in detections] == [3, None]  # NO_TRACK is stored as NULL


def test_a_frame_without_boxes_is_stored(store):
    assert store.store_frames([frame("cam-1", 1, labels=Labels())]) == [True]
    assert list(store.iter_frames())[0]["detections"] == []


def test_a_failed_media_write_stores_none_of_the_batch(store, monkeypatch):
    store.count_rejection("cam-9", "bad_boxes", "waiting in the buffer")
    real_write_temp = media_module._write_temp
    calls = []

    def write_failing_on_second(path, data):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_temp(path, data)

    monkeypatch.setattr(media_module, "_write_temp", write_failing_on_second)
    batch = [frame("cam-1", 1), frame("cam-1", 2, image="darknet_dog.jpg"), frame("cam-2", 1)]

    with pytest.raises(StoreError, match="No space left"):
        store.store_frames(batch)

    for table in ("frames", "detections", "devices", "models", "rejections"):
        assert raw_count(store, table) == 0, table
    # Nothing half-stored: the retry (as the edge would send it) stores all of it, plus the buffered rejection.
    assert not list(store.media.root.rglob("*.tmp")), "temp files of the failed batch are cleaned up"
    monkeypatch.setattr(media_module, "_write_temp", real_write_temp)
    assert store.store_frames(batch) == [True, True, True]
    assert raw_count(store, "rejections") == 1


def test_the_write_lock_held_elsewhere_is_a_store_error(tmp_path, monkeypatch):
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 50)
    with DataDir.open(tmp_path) as store:
        other = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="database is locked"):
                store.store_frames([frame("cam-1", 1)])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.store_frames([frame("cam-1", 1)]) == [True]


# --- rejections ------------------------------------------------------------------------------------


def test_rejection_counts_persist_after_reopen(tmp_path):
    with DataDir.open(tmp_path) as store:
        store.count_rejection("cam-1", "bad_boxes", "box 0: NaN")
        store.count_rejection("cam-1", "bad_boxes", "box 3: outside the image")
        store.count_rejection(None, "bad_header", "header is not UTF-8 JSON")

    with DataDir.open(tmp_path) as store:
        store.count_rejection("cam-1", "bad_boxes", "box 1: NaN")
        rejections = store.stats()["rejections"]

    assert rejections["by_code"] == {"bad_boxes": 3, "bad_header": 1}
    by_device = {(row["device"], row["code"]): row for row in rejections["by_device"]}
    assert by_device[("cam-1", "bad_boxes")]["count"] == 3
    assert by_device[("cam-1", "bad_boxes")]["last_detail"] == "box 1: NaN"
    assert by_device[(None, "bad_header")]["count"] == 1


def test_rejections_are_buffered_then_flushed(store, database, monkeypatch):
    store.count_rejection("cam-1", "bad_image", "truncated")
    assert raw_count(store, "rejections") == 0  # buffered: no commit per bad message

    monkeypatch.setattr(rejections_module, "REJECTION_FLUSH_SECONDS", 0.0)
    store.count_rejection("cam-1", "bad_image", "truncated")

    with DataDir.open_readonly(store.data_dir, database) as reader:
        assert reader.stats()["rejections"]["by_code"] == {"bad_image": 2}


def test_an_unknown_rejection_code_is_a_programming_error(store):
    with pytest.raises(ValueError, match="unknown rejection code"):
        store.count_rejection("cam-1", "bad_vibes", "")


# --- stats and readers -----------------------------------------------------------------------------


def test_stats_numbers(store, database):
    bus, _, _ = real_jpeg("yolov5_bus.jpg")
    dog, _, _ = real_jpeg("darknet_dog.jpg")
    store.store_frames([frame("cam-1", 1), frame("cam-1", 2, image="darknet_dog.jpg"), frame("cam-1", 7)])
    store.store_frames([frame("cam-2", 3, labels=Labels(((1.0, 1.0, 5.0, 5.0),), (0.5,), (2,), (1,)))])
    store.store_frames([frame("cam-1", 2)])  # duplicate: changes nothing but last_seen
    store.count_rejection("cam-2", "bad_image", "JPEG is truncated")
    execute(store, "UPDATE frames SET status = 'verified' WHERE seq = 7")

    stats = store.stats()

    assert stats["database"] == (str(store.data_dir / DB_FILENAME) if database is None else store.db.location)
    assert stats["totals"] == {
        "frames": 4,
        "detections": 3 * 2 + 1,
        "devices": 2,
        "media_files": 2,  # three bus frames share one content-addressed file
        "media_bytes": len(bus) + len(dog),
        "rejections": 1,
    }
    cam1, cam2 = stats["devices"]["cam-1"], stats["devices"]["cam-2"]
    assert (cam1["frames"], cam1["last_seq"]) == (3, 7)
    assert (cam2["frames"], cam2["last_seq"]) == (1, 3)
    assert cam1["first_seen"] <= cam2["first_seen"] <= cam1["last_seen"]
    assert stats["detections_by_class"] == {"person": 3, "bus": 3, "car": 1}
    # cam-1/7 and cam-2/3 repeat cam-1/1's bytes: stored as exact duplicates, kept out of the queue.
    assert stats["frames_by_status"] == {"pending": 2, "duplicate": 1, "verified": 1}
    assert stats["rejections"]["by_code"] == {"bad_image": 1}
    assert json.loads(json.dumps(stats)) == stats


def test_stats_of_an_empty_store(store):
    stats = store.stats()
    assert stats["totals"] == dict(frames=0, detections=0, devices=0, media_files=0, media_bytes=0, rejections=0)
    assert stats["devices"] == {} and stats["frames_by_status"] == {}


def test_a_reader_sees_commits_while_the_writer_is_open(store, database):
    reader = DataDir.open_readonly(store.data_dir, database)
    try:
        assert reader.stats()["totals"]["frames"] == 0
        store.store_frames([frame("cam-1", 1), frame("cam-1", 2)])
        assert reader.stats()["totals"]["frames"] == 2
        assert [row["seq"] for row in reader.frame_rows(status="pending")] == [1]
        assert [row["seq"] for row in reader.frame_rows(status="duplicate")] == [2]  # the same JPEG again
        assert reader.frame_rows(status="verified") == []
    finally:
        reader.close()


def test_iter_frames_pages_through_everything_with_its_detections(store):
    store.store_frames([frame("cam-1", seq, labels=Labels() if seq % 2 else None) for seq in range(1, 8)])
    execute(store, "UPDATE frames SET status = 'verified' WHERE seq IN (2, 3, 7)")

    frames = list(store.iter_frames(page_size=2))
    verified = list(store.iter_frames(status="verified", page_size=2))

    assert [f["seq"] for f in frames] == [1, 2, 3, 4, 5, 6, 7]
    assert [len(f["detections"]) for f in frames] == [0, 2, 0, 2, 0, 2, 0]
    assert [f["seq"] for f in verified] == [2, 3, 7]


def test_the_writer_can_be_opened_in_one_thread_and_used_in_another(tmp_path):
    """serve opens the store up front, then hands it to the receiver thread."""
    store = DataDir.open(tmp_path)
    results = []
    worker = threading.Thread(target=lambda: results.append(store.store_frames([frame("cam-1", 1)])))
    worker.start()
    worker.join(timeout=30)
    store.close()
    assert results == [[True]]


def test_a_reader_cannot_write(store, database):
    with DataDir.open_readonly(store.data_dir, database) as reader:
        with pytest.raises(StoreError, match="read-only"):
            reader.store_frames([frame("cam-1", 1)])
        with pytest.raises(StoreError, match="read-only"):
            reader.count_rejection("cam-1", "bad_image", "")
        with pytest.raises(StoreError, match="read-only"):
            execute(reader, "DELETE FROM frames")
        with pytest.raises(StoreError, match="readonly|read-only"), reader.db.read() as conn:  # the database refuses
            conn.execute(text("DELETE FROM frames"))


@pytest.mark.slow
def test_a_stored_batch_survives_the_writer_being_killed(tmp_path):
    """store_frames returning is the durability point: no close(), no clean exit needed."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = [{str(REPO_ROOT)!r}]
        from tests.server.test_datadir import frame
        from server.datadir import DataDir
        store = DataDir.open({str(tmp_path)!r})
        print(store.store_frames([frame("cam-1", 1), frame("cam-1", 2)]), flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == -9, result.stderr
    assert result.stdout.strip() == "[True, True]"
    with DataDir.open(tmp_path) as store:
        assert [row["seq"] for row in store.frame_rows()] == [1, 2]
        assert all(store.media.exists(row["media_sha256"]) for row in store.frame_rows())
        assert store.store_frames([frame("cam-1", 2)]) == [False]


def test_two_writers_storing_the_same_frames_at_once_store_each_once(tmp_path, database):
    """Two nodes (two writers on one database) receiving the same retransmitted frames."""
    writers = [DataDir.open(tmp_path / "data", database=database) for _ in range(2)]
    results, errors = [], []

    def send(store: DataDir) -> None:
        try:
            for seq in range(1, 11):
                results.append((seq, store.store_frames([frame("cam-1", seq)])[0]))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(store,)) for store in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert sorted(seq for seq, stored in results if stored) == list(range(1, 11))
        assert raw_count(writers[0], "frames") == 10
        with writers[0].db.read() as conn:
            assert conn.execute(text("SELECT frames_stored FROM devices WHERE name = 'cam-1'")).scalar_one() == 10
    finally:
        for store in writers:
            store.close()


def test_the_idempotency_key_is_a_unique_index_on_both_backends(store):
    from sqlalchemy import inspect

    with store.db.read() as conn:
        indexes = {index["name"]: index for index in inspect(conn).get_indexes("frames")}
    assert indexes["frames_device_seq"]["unique"] and indexes["frames_device_seq"]["column_names"] == ["device", "seq"]
