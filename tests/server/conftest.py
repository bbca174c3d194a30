"""Fixtures for the collector's storage tests: a real S3 server (SeaweedFS) for the media stores."""

from collections.abc import Iterator

import pytest

from server.media import MediaBackend, MediaStore
from server.media.s3 import S3MediaStore
from tests.server._seaweedfs import SeaweedS3, start_seaweedfs, stop_seaweedfs


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> Iterator[SeaweedS3]:
    """One SeaweedFS server (master, volume, filer, S3 gateway) for the whole session."""
    process, server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        stop_seaweedfs(process)


@pytest.fixture
def s3_media(seaweedfs) -> Iterator[S3MediaStore]:
    """An S3 media store on a fresh bucket of its own, under a key prefix as deployments use."""
    store = S3MediaStore(f"s3://{seaweedfs.new_bucket()}/edgelabel/media", endpoint=seaweedfs.endpoint,
                         region=seaweedfs.region, access_key_id=seaweedfs.access_key_id,
                         secret_access_key=seaweedfs.secret_access_key)
    yield store
    store.close()


@pytest.fixture(params=["local", "s3"])
def any_media(request, tmp_path) -> Iterator[MediaBackend]:
    """Each media store in turn: the data directory's folder, then a bucket."""
    if request.param == "local":
        yield MediaStore(tmp_path / "media")
    else:
        yield request.getfixturevalue("s3_media")
