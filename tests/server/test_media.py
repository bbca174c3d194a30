import hashlib
import os
import threading
import time

import cv2
import pytest

from server.errors import StoreError
from server.media import MediaMissingError, MediaStore, open_media
from server.media import local as media_module
from server.media.s3 import S3MediaStore
from tests.server._paths import IMAGES_DIR


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    image = cv2.imread(str(IMAGES_DIR / "darknet_horses.jpg"))
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buffer.tobytes()


@pytest.fixture
def media(tmp_path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def leftovers(root) -> list[str]:
    return [name for _, _, names in os.walk(root) for name in names if name.endswith(".tmp")]


def test_put_stores_the_bytes_under_their_sha256(media, jpeg):
    sha256 = media.put(jpeg)

    assert sha256 == hashlib.sha256(jpeg).hexdigest()
    path = media.path_for(sha256)
    assert path == media.root / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"
    assert path.read_bytes() == jpeg
    assert media.exists(sha256)
    assert leftovers(media.root) == []


def test_identical_bytes_are_not_rewritten(media, jpeg, monkeypatch):
    path = media.path_for(media.put(jpeg))
    before = path.stat()
    replaced = []
    monkeypatch.setattr(os, "replace", lambda *args: replaced.append(args))

    assert media.put(jpeg) == hashlib.sha256(jpeg).hexdigest()

    assert replaced == []
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_damaged_file_is_rewritten(media, jpeg):
    path = media.path_for(media.put(jpeg))
    path.write_bytes(jpeg[:100])

    media.put(jpeg)

    assert path.read_bytes() == jpeg


def test_other_bytes_get_another_file(media, jpeg):
    first, second = media.put(jpeg), media.put(jpeg + b"\x00")
    assert first != second
    assert media.path_for(first).read_bytes() == jpeg


def test_exists_is_false_for_an_unknown_digest(media):
    assert not media.exists("0" * 64)


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../" + "a" * 61,
        "/" + "a" * 63,
        "A" * 64,  # uppercase: digests are stored lowercase only
        "a" * 63,
        "a" * 65,
        "a" * 63 + "\x00",
        "a" * 63 + "\n",
        "",
        None,
    ],
)
def test_path_for_rejects_anything_but_a_lowercase_sha256(media, bad):
    with pytest.raises(StoreError, match="invalid media id"):
        media.path_for(bad)
    with pytest.raises(StoreError):
        media.exists(bad)


def test_a_failed_write_raises_store_error_and_leaves_no_temp_file(media, jpeg, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setattr(media_module, "_syncfs", lambda directory: disk_full(None))

    with pytest.raises(StoreError, match="No space left on device"):
        media.put(jpeg)
    assert not media.exists(hashlib.sha256(jpeg).hexdigest())
    assert leftovers(media.root) == []


def test_without_syncfs_each_file_and_directory_is_fsynced(media, jpeg, monkeypatch):
    """Platforms without syncfs(2) take the per-file path; it must store the same way."""
    monkeypatch.setattr(media_module, "_SYNCFS", None)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    digests = media.put_many([jpeg, jpeg + b"\x00", jpeg])
    assert digests[0] == digests[2] == hashlib.sha256(jpeg).hexdigest()
    assert all(media.path_for(d).read_bytes() in (jpeg, jpeg + b"\x00") for d in digests)
    assert len(synced) >= 2 + 1  # both new files, and at least one directory
    assert leftovers(media.root) == []


# --- the media interface, on every store -----------------------------------------------------------


def test_any_store_round_trips_bytes_by_their_sha256(any_media, jpeg):
    digests = any_media.put_many([jpeg, jpeg + b"\x00", jpeg])

    assert digests == [hashlib.sha256(jpeg).hexdigest(), hashlib.sha256(jpeg + b"\x00").hexdigest(), digests[0]]
    assert any_media.get(digests[0]) == jpeg
    assert any_media.get(digests[1]) == jpeg + b"\x00"
    assert b"".join(any_media.stream(digests[0], chunk_size=4096)) == jpeg
    assert any_media.exists(digests[0])
    assert sorted((item.sha256, item.size) for item in any_media.iter_objects()) == sorted(
        [(digests[0], len(jpeg)), (digests[1], len(jpeg) + 1)])


def test_any_store_says_when_an_image_is_missing(any_media):
    assert not any_media.exists("0" * 64)
    with pytest.raises(MediaMissingError):
        any_media.get("0" * 64)
    with pytest.raises(MediaMissingError):
        any_media.stream("0" * 64)


def test_any_store_deletes_and_rewrites(any_media, jpeg):
    sha256 = any_media.put(jpeg)
    any_media.delete(sha256)
    any_media.delete(sha256)  # already gone: not an error

    assert not any_media.exists(sha256)
    assert list(any_media.iter_objects()) == []
    assert any_media.put(jpeg) == sha256 and any_media.get(sha256) == jpeg


@pytest.mark.parametrize("bad", ["../" + "a" * 61, "A" * 64, "a" * 63 + "\x00", None])
def test_any_store_rejects_anything_but_a_lowercase_sha256(any_media, bad):
    for call in (any_media.get, any_media.exists, any_media.delete, any_media.local_path):
        with pytest.raises(StoreError, match="invalid media id"):
            call(bad)


def test_s3_keys_use_the_same_layout_under_the_prefix(s3_media, jpeg):
    sha256 = s3_media.put(jpeg)

    listed = s3_media.client.list_objects_v2(Bucket=s3_media.bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == [f"edgelabel/media/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"]
    assert s3_media.local_path(sha256) is None


def test_s3_uploads_of_a_batch_are_in_flight_together(s3_media, jpeg):
    """A batch costs about one round trip, not one per frame: count uploads in flight at once.

    Each request waits 50 ms before it is sent, like a far-away bucket would; uploads made one
    after another would never overlap.
    """
    lock, in_flight, most = threading.Lock(), [0], [0]

    def started(**_):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)

    def finished(**_):
        with lock:
            in_flight[0] -= 1

    s3_media.client.meta.events.register("before-send.s3.PutObject", started)
    s3_media.client.meta.events.register("after-call.s3.PutObject", finished)
    frames = [jpeg + bytes([index]) for index in range(16)]

    digests = s3_media.put_many(frames)

    assert most[0] >= 8, f"at most {most[0]} uploads were in flight at once"
    assert [s3_media.get(sha256) for sha256 in digests] == frames


def test_s3_store_errors_name_the_bucket(seaweedfs, jpeg):
    store = S3MediaStore("s3://no-such-bucket-here/media", endpoint=seaweedfs.endpoint, region=seaweedfs.region,
                         access_key_id=seaweedfs.access_key_id, secret_access_key=seaweedfs.secret_access_key)
    try:
        with pytest.raises(StoreError, match="no-such-bucket-here"):
            store.check()
        with pytest.raises(StoreError, match="cannot upload media to s3://no-such-bucket-here/media"):
            store.put(jpeg)
    finally:
        store.close()


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "http://bucket/x", "s3://bucket/x?y=1"])
def test_bad_media_urls_are_refused(tmp_path, url):
    with pytest.raises(StoreError, match="media"):
        open_media(url, tmp_path)


def test_s3_media_without_boto3_names_the_extra_in_one_line(tmp_path, monkeypatch):
    from server.media import s3 as s3_module

    monkeypatch.setattr(s3_module, "boto3", None)
    with pytest.raises(StoreError) as raised:
        open_media("s3://bucket/media", tmp_path)
    assert str(raised.value) == "S3 media needs boto3: pip install 'edgelabel[s3]'"
