"""Migration ``0011_alias_position``: a class's aliases keep their order in a column of their own.

They were read in insertion order, which SQLite keeps (``rowid``) but PostgreSQL does not (its
physical order changes with updates and ``VACUUM``), and which a copy between databases loses.
Existing rows are numbered in the order they were read until now.
"""

from sqlalchemy import Connection, text

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, "ALTER TABLE taxonomy_aliases ADD COLUMN position INTEGER NOT NULL DEFAULT 0")
    physical_order = "ctid" if conn.dialect.name == "postgresql" else "rowid"
    conn.execute(text(
        "UPDATE taxonomy_aliases SET position = numbered.position FROM (SELECT alias, ROW_NUMBER() OVER"
        f" (PARTITION BY class_name ORDER BY {physical_order}) - 1 AS position FROM taxonomy_aliases) AS numbered"
        " WHERE taxonomy_aliases.alias = numbered.alias"))
