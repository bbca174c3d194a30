"""The best view of each track: ingest points (device, track) at the stored frame showing it largest,
and the track strip opens on it; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text

from edge.contract.wire import Labels
from server.datadir import DataDir
from server.review.best_views import best_frame
from server.review.track_verdicts import track_strip
from tests.server._frames import PETS, clip_frames, encode, header_for


def with_box(header, box, track_id):
    return replace(header, labels=Labels(xyxy=(box,), score=(0.8,), class_id=(0,), track_id=(track_id,)))


def test_ingest_points_each_track_at_its_largest_view_and_the_strip_opens_there(tmp_path, database):
    images = clip_frames(PETS, (0, 100, 200, 300))
    boxes = [(10.0, 10.0, 40.0, 60.0), (10.0, 10.0, 90.0, 150.0), (10.0, 10.0, 60.0, 90.0), (5.0, 5.0, 95.0, 160.0)]
    with DataDir.open(tmp_path / "data", database=database) as store:
        # Two batches: the largest view of track 7 arrives in the first, a larger one of track 8 later.
        first = store.ingest_frames([(with_box(header_for(image, "cam", seq, capture_ts=100.0 + seq), box, 7),
                                      encode(image)) for seq, (image, box) in enumerate(zip(images[:3], boxes[:3]))])
        later = store.ingest_frames([(with_box(header_for(images[3], "cam", 3, capture_ts=103.0), boxes[3], 8),
                                      encode(images[3])),
                                     (with_box(header_for(images[0], "other", 0, capture_ts=100.0), boxes[3], 7),
                                      encode(images[0]))])
        assert all(o.stored for o in first + later)
        # A retransmission changes nothing.
        store.ingest_frames([(with_box(header_for(images[2], "cam", 2, capture_ts=102.0), boxes[2], 7), encode(images[2]))])
        with store.db.read("best views") as conn:
            assert best_frame(conn, "cam", 7) == first[1].frame_id  # 80x140, the largest of three
            assert best_frame(conn, "cam", 8) == later[0].frame_id
            assert best_frame(conn, "other", 7) == later[1].frame_id  # tracks are per device
            assert best_frame(conn, "cam", 9) is None
        strip = track_strip(store.db, "cam", 7)
        assert [f["frame_id"] for f in strip["frames"]] == [o.frame_id for o in first]
        assert strip["best_frame_id"] == first[1].frame_id


def test_the_migration_fills_best_views_of_tracks_stored_before_it(tmp_path, database):
    images = clip_frames(PETS, (0, 100))
    boxes = [(10.0, 10.0, 90.0, 150.0), (10.0, 10.0, 40.0, 60.0)]
    with DataDir.open(tmp_path / "data", database=database) as store:
        outcomes = store.ingest_frames([(with_box(header_for(image, "cam", seq, capture_ts=100.0 + seq), box, 5),
                                         encode(image)) for seq, (image, box) in enumerate(zip(images, boxes))])
        # As a database of before the migration: no pointers, and the migration not applied.
        with store.db.write("forget") as conn:
            conn.execute(text("DROP TABLE track_best_views"))
            conn.execute(text("DELETE FROM migrations WHERE name = '0013_best_views'"))
    with DataDir.open(tmp_path / "data", database=database) as store:
        with store.db.read("best views") as conn:
            assert best_frame(conn, "cam", 5) == outcomes[0].frame_id
