"""Migration ``0015_deployments``: model rollouts to devices and what the devices reported
(:mod:`server.models.deployments`, described there)."""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, """CREATE TABLE model_deployments (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES model_registry (sha256),
        mode TEXT NOT NULL,
        shadow_every INTEGER NOT NULL,
        kind TEXT NOT NULL,
        previous_model_id TEXT,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL
    ) STRICT""")
    execute_ddl(conn, "CREATE INDEX model_deployments_device ON model_deployments (device, id)")
    execute_ddl(conn, """CREATE TABLE model_reports (
        id INTEGER PRIMARY KEY,
        deployment INTEGER NOT NULL REFERENCES model_deployments (id),
        device TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        frames INTEGER,
        current_boxes INTEGER,
        candidate_boxes INTEGER,
        matched_boxes INTEGER,
        device_ts REAL NOT NULL,
        received_at REAL NOT NULL
    ) STRICT""")
    execute_ddl(conn, "CREATE INDEX model_reports_deployment ON model_reports (deployment, id)")
