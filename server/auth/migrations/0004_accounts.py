"""Migration ``0004_accounts``: reviewer accounts, their login sessions and track verdicts (issue 8, :mod:`server.auth`).

``accounts.password``: an scrypt hash string (:mod:`server.auth.passwords`); ``failed_logins``
and ``locked_until`` slow down password guessing. ``sessions`` keep only the SHA-256 of a
session token, so a copy of the database cannot be used to log in; ``csrf_token`` is the
synchronizer token every state change of that session must send back. ``track_verdicts`` hold
a reviewer's decision on a whole track (device, track id): its boxes are right, with
``class_name`` NULL (as the model said) or fixed to that class; see :mod:`server.review.track_verdicts`.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        """CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
            password TEXT NOT NULL,
            created_at REAL NOT NULL,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until REAL NOT NULL DEFAULT 0
        ) STRICT""",
        """CREATE TABLE sessions (
            token_sha256 TEXT PRIMARY KEY,
            account TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        ) STRICT""",
        "CREATE INDEX sessions_account ON sessions (account)",
        """CREATE TABLE track_verdicts (
            device TEXT NOT NULL,
            track_id INTEGER NOT NULL,
            class_name TEXT,
            user TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (device, track_id)
        ) STRICT""",
        "CREATE INDEX detections_track ON detections (track_id) WHERE track_id IS NOT NULL",
    ):
        execute_ddl(conn, statement)
