"""Migration ``0006_taxonomy``: the tables of :mod:`server.taxonomy.queries` (described there)."""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl


def upgrade(conn: Connection) -> None:
    for statement in (
        """CREATE TABLE taxonomy_classes (
            name TEXT PRIMARY KEY,
            guideline TEXT NOT NULL DEFAULT '',
            position INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE taxonomy_aliases (
            alias TEXT PRIMARY KEY,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE
        ) STRICT""",
        "CREATE INDEX taxonomy_aliases_class ON taxonomy_aliases (class_name)",
        """CREATE TABLE model_class_map (
            model_id TEXT NOT NULL,
            model_class TEXT NOT NULL,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE,
            PRIMARY KEY (model_id, model_class)
        ) STRICT""",
        # No foreign key to annotations: an adjudication replaces a frame's annotations, and the
        # example (its box and crop) stays valid as the picture it was.
        """CREATE TABLE class_examples (
            id INTEGER PRIMARY KEY,
            class_name TEXT NOT NULL REFERENCES taxonomy_classes (name) ON DELETE CASCADE ON UPDATE CASCADE,
            frame_id INTEGER NOT NULL REFERENCES frames (id),
            annotation_id INTEGER NOT NULL,
            x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
            crop_sha256 TEXT NOT NULL,
            crop_width INTEGER NOT NULL,
            crop_height INTEGER NOT NULL,
            added_by TEXT NOT NULL,
            added_at REAL NOT NULL,
            UNIQUE (class_name, annotation_id)
        ) STRICT""",
    ):
        execute_ddl(conn, statement)
