"""Migration ``0010_login_throttle``: login failures counted per account, per address and per pair
(issue 20, :mod:`server.auth.throttle`), replacing the per-account lock of ``0004_accounts``.

``key`` is ``account:NAME``, ``address:IP`` or ``pair:IP NAME``; rows exist for unknown names too,
so throttling answers the same whether or not an account exists. ``accounts.failed_logins`` and
``accounts.locked_until`` go: the throttle table holds that state now.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        """CREATE TABLE login_throttle (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            blocked_until REAL NOT NULL,
            last_failure_at REAL NOT NULL
        ) STRICT""",
        "ALTER TABLE accounts DROP COLUMN failed_logins",
        "ALTER TABLE accounts DROP COLUMN locked_until",
    ):
        execute_ddl(conn, statement)
