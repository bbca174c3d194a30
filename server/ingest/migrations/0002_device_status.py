"""Migration ``0002_device_status``: the last heartbeat of each device (``counters``: a JSON object).

Not tied to ``devices``: a device reports before its first frame.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, (
        'CREATE TABLE "device_status" (\n   "device" TEXT PRIMARY KEY,\n   "received_at" REAL NOT NULL,\n'
        '   "device_ts" REAL NOT NULL,\n   "model_id" TEXT NOT NULL,\n   "counters" TEXT NOT NULL\n) STRICT'))
