"""Migration ``0014_models``: the model registry of :mod:`server.models.registry` (described there)."""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, """CREATE TABLE model_registry (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        model_id TEXT NOT NULL,
        file_name TEXT NOT NULL,
        format TEXT NOT NULL,
        layout TEXT NOT NULL,
        input_height INTEGER NOT NULL,
        input_width INTEGER NOT NULL,
        class_names TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        added_at REAL NOT NULL
    ) STRICT""")
    execute_ddl(conn, "CREATE INDEX model_registry_model_id ON model_registry (model_id)")
