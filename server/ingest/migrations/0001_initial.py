"""Migration ``0001_initial``: devices, models, frames, their detections and rejection counts.

Times are Unix seconds (float) throughout, like the wire header's capture_ts. ``models.class_names``
is a JSON list (index = class id); ``frames.phash`` 16 hex digits (64-bit perceptual hash),
``frames.reasons`` a JSON list of why the edge selected the frame; ``detections.track_id`` is NULL
when no tracker assigned one. (device, seq) is the idempotency key of the wire protocol.
The DDL is the one sqlite-utils generated when this migration was written, so new and old
databases hold the same schema.
"""

from sqlalchemy import Connection

from server.db.ddl import execute_ddl

STATEMENTS = (
    'CREATE TABLE "devices" (\n   "name" TEXT PRIMARY KEY,\n   "first_seen" REAL NOT NULL,\n'
    '   "last_seen" REAL NOT NULL,\n   "frames_stored" INTEGER NOT NULL DEFAULT 0\n) STRICT',
    'CREATE TABLE "models" (\n   "id" TEXT PRIMARY KEY,\n   "class_names" TEXT NOT NULL\n) STRICT',
    'CREATE TABLE "frames" (\n   "id" INTEGER PRIMARY KEY,\n   "device" TEXT NOT NULL REFERENCES "devices"("name"),\n'
    '   "seq" INTEGER NOT NULL,\n   "capture_ts" REAL NOT NULL,\n   "source_ts" REAL NOT NULL,\n'
    '   "frame_index" INTEGER NOT NULL,\n   "received_at" REAL NOT NULL,\n   "width" INTEGER NOT NULL,\n'
    '   "height" INTEGER NOT NULL,\n   "model_id" TEXT NOT NULL REFERENCES "models"("id"),\n'
    '   "media_sha256" TEXT NOT NULL,\n   "media_bytes" INTEGER NOT NULL,\n   "phash" TEXT NOT NULL,\n'
    '   "reasons" TEXT NOT NULL,\n   "priority" REAL NOT NULL,\n   "status" TEXT NOT NULL DEFAULT \'pending\'\n) STRICT',
    'CREATE UNIQUE INDEX "frames_device_seq"\n    ON "frames" ("device", "seq")',
    'CREATE INDEX "frames_status_priority"\n    ON "frames" ("status", "priority")',  # the review queue
    'CREATE INDEX "frames_media_sha256"\n    ON "frames" ("media_sha256")',  # exact dedup
    'CREATE INDEX "frames_model_id"\n    ON "frames" ("model_id")',
    'CREATE TABLE "detections" (\n   "id" INTEGER PRIMARY KEY,\n   "frame_id" INTEGER NOT NULL REFERENCES "frames"("id"),\n'
    '   "x1" REAL NOT NULL,\n   "y1" REAL NOT NULL,\n   "x2" REAL NOT NULL,\n   "y2" REAL NOT NULL,\n'
    '   "score" REAL NOT NULL,\n   "class_id" INTEGER NOT NULL,\n   "class_name" TEXT NOT NULL,\n'
    '   "track_id" INTEGER\n) STRICT',
    'CREATE INDEX "detections_frame_id"\n    ON "detections" ("frame_id")',
    'CREATE TABLE "rejections" (\n   "device" TEXT NOT NULL,\n   "code" TEXT NOT NULL,\n   "count" INTEGER NOT NULL,\n'
    '   "last_detail" TEXT NOT NULL,\n   "last_at" REAL NOT NULL,\n   PRIMARY KEY ("device", "code")\n) STRICT',
)


def upgrade(conn: Connection) -> None:
    for statement in STATEMENTS:
        execute_ddl(conn, statement)
