"""Fixtures of the collector's tests: the database backends storage-facing tests run on
(the PostgreSQL cluster itself is ``postgres_cluster`` in tests/conftest.py)."""

from __future__ import annotations

import pytest

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
