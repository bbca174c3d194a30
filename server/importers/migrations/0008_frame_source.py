"""Migration ``0008_frame_source``: the file an imported frame came from (:mod:`server.frame_source`).

Both columns are NULL for frames from the edge: ``source_file`` is the file's name inside the
imported dataset, ``source_image_id`` the COCO image id when the source was COCO.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    execute_ddl(conn, "ALTER TABLE frames ADD COLUMN source_file TEXT")
    execute_ddl(conn, "ALTER TABLE frames ADD COLUMN source_image_id INTEGER")
