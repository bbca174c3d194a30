"""The collector on each media store: ingest, the review UI's image routes, exports and ``media gc``,
on the data directory's folder and on a real S3 server (SeaweedFS)."""

import hashlib
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text

from edge.sender import FrameSender
from server.datadir import DataDir
from server.exports import Selection, export
from server.media import MediaStore
from server.media.gc import collect_garbage
from server.web.serve import start_review_api
from tests.conftest import REPO_DIR
from tests.helpers import start_collector
from tests.server._frames import PARKING, PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in


def ingest_clip_frames(store: DataDir) -> list[bytes]:
    """Six real frames from two cameras, stored through the ingest writer; their JPEGs."""
    batch = []
    for device, clip in (("cam-a", PETS), ("cam-b", PARKING)):
        for seq, image in enumerate(clip_frames(clip, (0, 40, 80))):
            batch.append((header_for(image, device, seq, capture_ts=1000.0 + seq), encode(image)))
    assert all(outcome.stored for outcome in store.ingest_frames(batch))
    return [jpeg for _, jpeg in batch]


def frame_digests(store: DataDir) -> dict[int, str]:
    with store.db.read("test") as conn:
        return dict(conn.execute(text("SELECT id, media_sha256 FROM frames ORDER BY id")).all())


def test_ingest_stores_every_frames_image_before_its_row(any_media, tmp_path):
    with DataDir.open(tmp_path / "data", media=any_media) as store:
        jpegs = ingest_clip_frames(store)
        digests = frame_digests(store)
        stored = {item.sha256 for item in any_media.iter_objects()}

    assert sorted(digests.values()) == sorted(hashlib.sha256(jpeg).hexdigest() for jpeg in jpegs)
    assert stored == set(digests.values())  # rows and objects agree, one object per image
    assert {any_media.get(sha256) for sha256 in digests.values()} == set(jpegs)
    if any_media.local_path(next(iter(stored))) is None:
        assert not (tmp_path / "data" / "media").exists()  # S3 media: nothing written beside the database


def test_review_ui_serves_images_from_the_media_store(any_media, tmp_path):
    data_dir = tmp_path / "data"
    with DataDir.open(data_dir, media=any_media) as store:
        jpegs = ingest_clip_frames(store)
        digests = frame_digests(store)
    add_accounts(data_dir, "alice")
    server = start_review_api(data_dir, "127.0.0.1:0", media=any_media)
    try:
        with logged_in(server.url, "alice") as client:
            for frame_id, sha256 in digests.items():
                image = client.get(f"/api/frames/{frame_id}/image")
                assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
                assert image.content == any_media.get(sha256) and image.content in jpegs
                assert "immutable" in image.headers["cache-control"]
                assert client.get(f"/media/{sha256}").content == image.content
            assert client.get(f"/media/{'0' * 64}").status_code == 404
            assert client.get("/media/not-a-digest").status_code == 404
            assert client.get(f"/api/frames/{max(digests) + 1}/image").status_code == 404
        assert httpx.get(f"{server.url}/media/{sha256}").status_code in (401, 303)  # still behind the login
    finally:
        server.stop()


@pytest.mark.parametrize("format_name", ["coco", "yolo"])
def test_exports_from_s3_hold_the_same_files_as_from_the_local_folder(s3_media, tmp_path, format_name):
    trees = {}
    for name, media in (("local", None), ("s3", s3_media)):
        with DataDir.open(tmp_path / name, media=media) as store:
            ingest_clip_frames(store)
            export(store, format_name, tmp_path / f"{name}-export", Selection(status="all"))
        root = tmp_path / f"{name}-export"
        trees[name] = {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
                       if path.is_file() and path.suffix == ".jpg"}
    assert len(trees["local"]) >= 4  # a near-duplicate of the parking lot may stay out
    assert trees["s3"] == trees["local"]


def test_gc_removes_old_orphans_and_keeps_referenced_and_young_images(any_media, tmp_path):
    with DataDir.open(tmp_path / "data", media=any_media) as store:
        ingest_clip_frames(store)
        referenced = set(frame_digests(store).values())
        old_orphan = any_media.put(b"\xff\xd8 an upload whose row never committed \xff\xd9")
        time.sleep(1.1)  # S3 times have a resolution of one second
        young_orphan = any_media.put(b"\xff\xd8 an upload whose batch is still in flight \xff\xd9")
        modified = {item.sha256: item.modified for item in any_media.iter_objects()}
        assert modified[young_orphan] - modified[old_orphan] >= 1
        now = modified[young_orphan] + 0.5  # the grace period covers the young orphan, not the old one

        dry = collect_garbage(store.db, any_media, grace_s=0.75, dry_run=True, clock=lambda: now)
        assert (dry.scanned, dry.referenced, dry.young, dry.orphans, dry.removed) == (8, 6, 1, 1, 0)
        assert any_media.exists(old_orphan)

        summary = collect_garbage(store.db, any_media, grace_s=0.75, clock=lambda: now)

    assert (summary.orphans, summary.removed, summary.young) == (1, 1, 1)
    assert summary.removed_bytes == len(b"\xff\xd8 an upload whose row never committed \xff\xd9")
    assert {item.sha256 for item in any_media.iter_objects()} == referenced | {young_orphan}


def run_collector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=REPO_DIR, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, check=False)


def test_media_gc_command_on_s3_reads_credentials_from_the_aws_environment(seaweedfs, s3_media, tmp_path):
    url = f"s3://{s3_media.bucket}/{s3_media.prefix.rstrip('/')}"
    with DataDir.open(tmp_path / "data", media=s3_media) as store:
        ingest_clip_frames(store)
    orphan = s3_media.put(b"\xff\xd8 orphan \xff\xd9")
    args = ("media", "gc", "--data-dir", str(tmp_path / "data"), "--media", url, "--grace-minutes", "0", "--json")

    dry = run_collector(*args, "--dry-run", env=seaweedfs.environment())
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) | {"removed_bytes": 0} == {
        "scanned": 7, "referenced": 6, "young": 0, "orphans": 1, "removed": 0, "removed_bytes": 0, "dry_run": True}
    assert s3_media.exists(orphan)

    done = run_collector(*args[:-1], env=seaweedfs.environment())
    assert done.returncode == 0, done.stderr
    assert "removed 1 orphans" in done.stdout and "6 referenced" in done.stdout
    assert not s3_media.exists(orphan)

    refused = run_collector(*args, env={"AWS_SECRET_ACCESS_KEY": "wrong", **{
        key: value for key, value in seaweedfs.environment().items() if key != "AWS_SECRET_ACCESS_KEY"}})
    assert refused.returncode == 2 and "edgelabel-collector media: error:" in refused.stderr


def test_check_config_tries_the_bucket(seaweedfs, s3_media, tmp_path):
    def config(bucket: str) -> str:
        path = tmp_path / f"{bucket}.toml"
        path.write_text(f'[collector]\nmedia = "s3://{bucket}/media"\n\n[s3]\nendpoint = "{seaweedfs.endpoint}"\n'
                        f'region = "{seaweedfs.region}"\naccess_key_id = "{seaweedfs.access_key_id}"\n'
                        f'secret_access_key = "{seaweedfs.secret_access_key}"\n')
        return str(path)

    good = run_collector("check-config", config(s3_media.bucket))
    assert good.returncode == 0, good.stderr
    missing = run_collector("check-config", config("no-such-bucket"))
    assert missing.returncode == 2
    assert "collector.media 's3://no-such-bucket/media'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_local_media_stays_in_the_data_directory(tmp_path):
    with DataDir.open(tmp_path / "data") as store:
        assert isinstance(store.media, MediaStore) and store.media.root == tmp_path / "data" / "media"


def test_serve_with_s3_media_stores_what_agents_send_in_the_bucket(seaweedfs, s3_media, tmp_path, monkeypatch):
    """A real ``serve --media s3://...`` process, credentials from the AWS environment, a real sender."""
    for key, value in seaweedfs.environment().items():
        monkeypatch.setenv(key, value)
    url = f"s3://{s3_media.bucket}/{s3_media.prefix.rstrip('/')}"
    process, endpoint = start_collector(tmp_path / "data", "tcp://127.0.0.1:*", "--insecure", "--media", url)
    images = clip_frames(PETS, (0, 40, 80, 120))
    sender = FrameSender(endpoint, None, window=4, ack_timeout_s=10.0)
    try:
        for seq, image in enumerate(images):
            assert sender.send(header_for(image, "cam-a", seq), encode(image))
        assert sender.flush(timeout_s=30)
    finally:
        sender.close()
        process.terminate()
        process.wait(timeout=30)
    assert sender.counts.acknowledged == len(images)
    with DataDir.open_readonly(tmp_path / "data") as store:
        digests = set(frame_digests(store).values())
    assert len(digests) == len(images)
    assert {item.sha256 for item in s3_media.iter_objects()} == digests
    assert not (tmp_path / "data" / "media").exists()


def test_export_command_reads_images_from_the_bucket_named_by_media(seaweedfs, s3_media, tmp_path):
    url = f"s3://{s3_media.bucket}/{s3_media.prefix.rstrip('/')}"
    with DataDir.open(tmp_path / "data", media=s3_media) as store:
        jpegs = ingest_clip_frames(store)
    out = tmp_path / "export"
    result = run_collector("export", "coco", "--data-dir", str(tmp_path / "data"), "--media", url, "--out", str(out),
                           "--status", "all", "--json", env=seaweedfs.environment())
    assert result.returncode == 0, result.stderr
    written = [path.read_bytes() for path in out.rglob("*.jpg")]
    assert written and all(image in jpegs for image in written)

    without = run_collector("export", "coco", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "x"),
                            "--status", "all")
    assert without.returncode == 2 and "is missing" in without.stderr  # the images are not in DATA_DIR/media


def test_commands_take_database_media_and_s3_settings_from_the_config_file(seaweedfs, s3_media, tmp_path):
    """``--config`` gives a command beside ``serve`` the same settings: no AWS_* variables needed."""
    url = f"s3://{s3_media.bucket}/{s3_media.prefix.rstrip('/')}"
    database = tmp_path / "elsewhere" / "edgelabel.db"
    with DataDir.open(tmp_path / "elsewhere", media=s3_media) as store:
        ingest_clip_frames(store)
    config = tmp_path / "collector.toml"
    config.write_text(f'[collector]\ndatabase = "sqlite:///{database}"\nmedia = "{url}"\n\n[s3]\n'
                      f'endpoint = "{seaweedfs.endpoint}"\nregion = "{seaweedfs.region}"\n'
                      f'access_key_id = "{seaweedfs.access_key_id}"\nsecret_access_key = "{seaweedfs.secret_access_key}"\n')
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    no_aws = {key: "" for key in seaweedfs.environment()}

    stats = run_collector("stats", "--data-dir", str(data_dir), "--config", str(config), "--json", env=no_aws)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["totals"]["frames"] == 6
    gc = run_collector("media", "gc", "--data-dir", str(data_dir), "--config", str(config), "--dry-run", "--json",
                       env=no_aws)
    assert gc.returncode == 0, gc.stderr
    assert json.loads(gc.stdout)["referenced"] == 6
    # A flag wins over the file: this database has no frames.
    other = run_collector("stats", "--data-dir", str(data_dir), "--config", str(config), "--database",
                          f"sqlite:///{tmp_path / 'empty' / 'edgelabel.db'}", "--json", env=no_aws)
    assert other.returncode == 2 and "no edgelabel database" in other.stderr
