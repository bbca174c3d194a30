"""Migration ``0012_redaction``: what the edge redacted in a frame's pixels before sending it.

``frames.redactions`` is the header's ``redactions`` as a JSON object (kind -> regions made
unrecognizable: ``{"faces": 3}``), NULL for a frame whose agent redacted nothing (and for
imported frames).
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, "ALTER TABLE frames ADD COLUMN redactions TEXT")
