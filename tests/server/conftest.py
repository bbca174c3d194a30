"""Fixtures of the collector's tests: the database backends storage-facing tests run on (the
PostgreSQL cluster itself is ``postgres_cluster`` in tests/conftest.py), and a real S3 server
(SeaweedFS) for the media stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.media import MediaBackend, MediaStore
from server.media.s3 import S3MediaStore
from tests.server._seaweedfs import SeaweedS3, start_seaweedfs, stop_seaweedfs

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def database(request) -> str | None:
    """The database URL a storage test runs on: None for SQLite (the data directory's default,
    ``edgelabel.db`` inside it) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_cluster").new_database()


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """Every database the test opens by its data directory alone (``DataDir.open(path)``,
    ``ReviewQueue.open(path)``, the web site) is on this backend: SQLite in the data directory, or
    one fresh PostgreSQL database standing in for it. For tests of features above the storage
    layer; the ``--database`` plumbing itself is tested with the ``database`` fixture."""
    if request.param == "postgresql":
        from server.db import database as database_module

        url = database_module.normalize_url(request.getfixturevalue("postgres_cluster").new_database())
        monkeypatch.setattr(database_module, "database_url", lambda data_dir: url)
    return request.param


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
