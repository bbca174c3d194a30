"""Fixtures of the collector's tests: the database backends storage-facing tests run on."""

from __future__ import annotations

import pytest

from tests.server._postgres import PostgresCluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A PostgreSQL cluster for the whole session, started when a test first needs it."""
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def database(request) -> str | None:
    """The database URL a storage test runs on: None for SQLite (the data directory's default,
    ``edgelabel.db`` inside it) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_cluster").new_database()
