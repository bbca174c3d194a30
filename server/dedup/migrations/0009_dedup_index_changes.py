"""Migration ``0009_dedup_index_changes``: the change log that keeps every node's duplicate index current.

One row per change of the set of group representatives (the in-memory index of
:mod:`server.dedup.engine`), written in the transaction that makes it: ``add`` when a frame
becomes a representative, ``remove`` when a better frame replaces one. ``node`` names the process
that wrote it (it skips its own rows). ``block_hash`` is stored signed, like
``frame_signatures.block_hash``. Nodes read it by (device, id); see :mod:`server.dedup.changes`.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        """CREATE TABLE dedup_index_changes (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL CHECK (action IN ('add', 'remove')),
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            block_hash INTEGER NOT NULL,
            device TEXT NOT NULL,
            capture_ts REAL NOT NULL,
            node TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX dedup_index_changes_device ON dedup_index_changes (device, id)",
    ):
        execute_ddl(conn, statement)
