import hashlib
import os

import cv2
import pytest

from server.errors import StoreError
from server.media import local as media_module
from server.media import MediaStore
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
