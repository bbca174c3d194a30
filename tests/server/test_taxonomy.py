"""The class taxonomy: names and aliases resolve, model classes map, and it takes effect on real
ingested frames (review, tracks, adjudication, what exports read)."""

import json

import pytest
from sqlalchemy import text

from edge.contract.wire import FrameHeader, Labels
from server.cli import main
from server.consistency import reviews as consistency
from server.consistency.reviews import ConsistencyPolicy
from server.datadir import DataDir
from server.db import open_database
from server.errors import SubmissionError
from server.exports.filter import Selection, select
from server.review.queue import ReviewQueue
from server.review.track_verdicts import accept_track, frame_extras, track_strip
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.model import ClassSpec, Taxonomy, TaxonomyError, UnknownClassError
from tests.server._frames import PETS, clip_frames, encode

# Model "m" says person, car and bench; the project knows pedestrians and vehicles.
MODEL_CLASSES = ("person", "car", "bench")
BOXES = ((10.0, 20.0, 60.0, 140.0), (100.0, 50.0, 150.0, 170.0), (200.0, 200.0, 260.0, 240.0))
TAXONOMY = Taxonomy(
    classes=(ClassSpec("pedestrian", "Anyone on foot.", ("walker",)),
             ClassSpec("vehicle", "Cars, vans, trucks.", ("automobile", "Car"))),
    mappings={("m", "person"): "pedestrian"},
)


def header(seq: int, image) -> FrameHeader:
    height, width = image.shape[:2]
    return FrameHeader(
        device="cam", seq=seq, capture_ts=1000.0 + seq, width=width, height=height, model_id="m",
        class_names=MODEL_CLASSES,
        labels=Labels(xyxy=BOXES, score=(0.9, 0.8, 0.7), class_id=(0, 1, 2), track_id=(7, 8, -1)),
        reasons=("scene_change",), priority=1.0 - seq / 10, phash="0" * 16,
    )


@pytest.fixture
def data_dir(tmp_path, backend):
    images = clip_frames(PETS, (0, 60, 120))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header(seq, image), encode(image)) for seq, image in enumerate(images)])
    return tmp_path


def install(data_dir, taxonomy: Taxonomy) -> None:
    with ReviewQueue.open(data_dir) as queue, queue.write_transaction() as (conn, now):
        taxonomy_queries.save(conn, taxonomy, "boss", now)


def test_names_resolve_ignoring_case_through_aliases_and_model_mappings():
    assert TAXONOMY.resolve("Walker") == "pedestrian" and TAXONOMY.resolve("AUTOMOBILE") == "vehicle"
    assert TAXONOMY.resolve("bench") is None
    assert TAXONOMY.project_class("m", "person") == ("pedestrian", "mapped")
    assert TAXONOMY.project_class("other-model", "person") == ("person", None)  # mappings are per model
    # ...and per weights: the same weights on another runtime (agents send weights@runtime) are covered.
    assert TAXONOMY.project_class("m@ov-cpu-f32", "person") == ("pedestrian", "mapped")
    assert TAXONOMY.with_mapping("m@ort-cpu", "person", "vehicle").project_class("m@ort-cpu", "person") == (
        "vehicle", "mapped")
    assert TAXONOMY.project_class("m", "car") == ("vehicle", "alias")
    assert TAXONOMY.project_class("m", "Vehicle") == ("vehicle", "name")
    assert TAXONOMY.submitted_class("walker") == "pedestrian"
    assert TAXONOMY.submitted_class("bench", model_class_kept="bench") == "bench"
    with pytest.raises(SubmissionError, match="'dragon' is not in the taxonomy; expected one of pedestrian, vehicle"):
        TAXONOMY.submitted_class("dragon")
    assert Taxonomy().project_class("m", "person") == ("person", "model")
    assert Taxonomy().submitted_class("anything") == "anything"
    with pytest.raises(TaxonomyError, match="alias 'PEDESTRIAN' of class 'vehicle': the name 'PEDESTRIAN' is already"):
        TAXONOMY.with_class(ClassSpec("vehicle", aliases=("PEDESTRIAN",)))
    with pytest.raises(UnknownClassError, match="maps to 'cyclist', which is not a class"):
        Taxonomy(TAXONOMY.classes, {("m", "bicycle"): "cyclist"})
    with pytest.raises(TaxonomyError, match="no leading or trailing blanks"):
        Taxonomy((ClassSpec(" pedestrian"),))
    assert TAXONOMY.with_mapping("m", "truck", "automobile").mappings[("m", "truck")] == "vehicle"
    without = TAXONOMY.without_class("walker")
    assert without.class_names() == ["vehicle"] and without.mappings == {}


def test_taxonomy_round_trips_through_the_database(data_dir):
    install(data_dir, TAXONOMY)
    with ReviewQueue.open(data_dir) as queue, queue.read_transaction() as conn:
        assert taxonomy_queries.load(conn) == TAXONOMY
        described = taxonomy_queries.describe(conn)
    model = next(m for m in described["models"] if m["model_id"] == "m")
    assert model["classes"] == [{"model_class": "person", "class_name": "pedestrian", "how": "mapped"},
                                {"model_class": "car", "class_name": "vehicle", "how": "alias"},
                                {"model_class": "bench", "class_name": None, "how": None}]
    assert model["unmapped"] == ["bench"]


def test_review_shows_and_stores_project_classes_and_exports_read_them(data_dir):
    install(data_dir, TAXONOMY)
    with ReviewQueue.open(data_dir) as queue:
        first = queue.claim("alice")
        assert [(d["class_name"], d["model_class"], d["mapping"]) for d in first["detections"]] == [
            ("pedestrian", "person", "mapped"), ("vehicle", "car", "alias"), ("bench", "bench", None)]
        accepted = queue.submit("alice", first["id"], "accept")
        assert accepted["status"] == "accepted"
        assert [(a["class_name"], a["source"]) for a in accepted["annotations"]] == [
            ("pedestrian", "model"), ("vehicle", "model"), ("bench", "model")]

        second = queue.claim("alice")
        boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2", "class_name", "track_id")} | {"detection_id": d["id"]}
                 for d in second["detections"]]
        with pytest.raises(SubmissionError, match="box 2: class 'dragon' is not in the taxonomy"):
            queue.submit("alice", second["id"], "correct", [*boxes[:2], boxes[2] | {"class_name": "dragon"}])
        boxes[0]["class_name"] = "WALKER"  # an alias, typed in capitals: the class, unchanged
        boxes[1]["class_name"] = "pedestrian"  # a real correction
        corrected = queue.submit("alice", second["id"], "correct", boxes)
        assert corrected["status"] == "corrected"
        assert [(a["class_name"], a["source"]) for a in corrected["annotations"]] == [
            ("pedestrian", "model"), ("pedestrian", "human"), ("bench", "model")]

    with DataDir.open_readonly(data_dir) as store:
        exported = select(store, Selection(status="verified"))
    assert [[box.class_name for box in frame.boxes] for frame in exported.frames] == [
        ["pedestrian", "vehicle", "bench"], ["pedestrian", "pedestrian", "bench"]]
    # The project's classes lead the class list (ids in that order), then unmapped ones.
    assert exported.class_names == ("pedestrian", "vehicle", "bench")


def test_exports_of_unreviewed_frames_show_pre_labels_under_project_classes(data_dir):
    install(data_dir, TAXONOMY)
    with DataDir.open_readonly(data_dir) as store:
        everything = select(store, Selection(status="all"))
        walkers = select(store, Selection(status="all", classes=("Walker",)))  # an alias filters like its class
    assert not any(frame.verified for frame in everything.frames)
    assert {tuple(box.class_name for box in frame.boxes) for frame in everything.frames} == {
        ("pedestrian", "vehicle", "bench")}
    assert everything.class_names == ("pedestrian", "vehicle", "bench")
    assert walkers.class_names == ("pedestrian",)
    assert [[box.class_name for box in frame.boxes] for frame in walkers.frames] == [["pedestrian"]] * 3


def test_adjudication_and_gold_answers_resolve_aliases(data_dir):
    install(data_dir, TAXONOMY)
    policy = ConsistencyPolicy(overlap_rate=1.0, gold_rate=0.0)
    with ReviewQueue.open(data_dir, consistency_policy=policy) as queue:
        frame = queue.claim("alice")
        queue.submit("alice", frame["id"], "reject")
        assert queue.claim("bob")["id"] == frame["id"]
        queue.submit("bob", frame["id"], "accept")  # verdicts differ: adjudication
        with queue.read_transaction() as conn:
            boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2")} | {"class_name": "automobile"}
                     for d in taxonomy_queries.detections_of(conn, frame["id"])[:1]]
        assert queue.adjudicate("boss", frame["id"], "correct", boxes) == "corrected"
        assert [a["class_name"] for a in queue.frame(frame["id"])["annotations"]] == ["vehicle"]


def test_tracks_accept_under_project_classes(data_dir):
    install(data_dir, TAXONOMY)
    with open_database(data_dir, "current") as web_db:
        strip = track_strip(web_db, "cam", 7)
        assert {f["class_name"] for f in strip["frames"]} == {"pedestrian"}
        assert strip["class_choices"] == ["pedestrian", "vehicle"]
        with pytest.raises(SubmissionError, match="'dragon' is not in the taxonomy"):
            accept_track(web_db, "alice", "cam", 8, "dragon")
        accept_track(web_db, "alice", "cam", 8, "walker")  # an alias fixes the class
        result = accept_track(web_db, "alice", "cam", 7, None)
        with web_db.read() as conn:
            rows = conn.execute(text("SELECT class_name, source FROM annotations ORDER BY frame_id, id")).all()
        extras = frame_extras(web_db, {"device": "cam", "capture_ts": 1002.0, "id": 3, "model_id": "m",
                                       "detections": [{"track_id": 7}]})
    # The benches have no track, so no frame is complete: accepting stores nothing yet, and the
    # verdicts wait; a fixed class was stored as the class the alias stands for.
    assert result["finalised"] == [] and rows == []
    assert extras["class_names"] == ["pedestrian", "vehicle"]
    assert extras["context"]["7"]["class_name"] == "pedestrian"
    with open_database(data_dir, "current") as web_db, web_db.read() as conn:
        assert conn.execute(text("SELECT class_name FROM track_verdicts WHERE track_id = 8")).one() == ("pedestrian",)


def test_an_empty_taxonomy_changes_nothing(data_dir):
    with ReviewQueue.open(data_dir) as queue:
        frame = queue.claim("alice")
        assert [(d["class_name"], d["mapping"]) for d in frame["detections"]] == [
            ("person", "model"), ("car", "model"), ("bench", "model")]
        boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2")} | {"class_name": "anything goes"}
                 for d in frame["detections"]]
        done = queue.submit("alice", frame["id"], "correct", boxes)
    assert {a["class_name"] for a in done["annotations"]} == {"anything goes"}


def test_apply_renames_labels_verified_before_the_taxonomy(data_dir, capsys):
    with ReviewQueue.open(data_dir) as queue:
        first = queue.claim("alice")
        queue.submit("alice", first["id"], "accept")  # person, car, bench as the model said
        second = queue.claim("alice")
        boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2")} | {"class_name": name}
                 for d, name in zip(second["detections"], ("walker", "Car", "dragon"))]
        queue.submit("alice", second["id"], "correct", boxes)
        with queue.write_transaction() as (conn, now):
            consistency.mark_gold(conn, "boss", first["id"], now)
    install(data_dir, TAXONOMY)

    def labels() -> list:
        with ReviewQueue.open(data_dir) as queue, queue.read_transaction() as conn:
            annotations = conn.execute(text("SELECT frame_id, class_name FROM annotations ORDER BY id")).all()
            (gold,) = conn.execute(text("SELECT labels FROM gold_frames")).one()
        return [annotations, [box["class_name"] for box in json.loads(gold)]]

    before = labels()
    assert main(["classes", "apply", "--dry-run", "--data-dir", str(data_dir)]) == 0
    dry_run = capsys.readouterr().out
    assert labels() == before
    assert "would rename 4 verified label(s) on 2 frame(s)" in dry_run
    assert main(["classes", "apply", "--data-dir", str(data_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 2 and report["unresolved"] == {"bench": 1, "dragon": 1}
    # person: the model's class, mapped; walker and Car: aliases; bench and dragon: nothing maps them.
    assert labels() == [[(first["id"], "pedestrian"), (first["id"], "vehicle"), (first["id"], "bench"),
                         (second["id"], "pedestrian"), (second["id"], "vehicle"), (second["id"], "dragon")],
                        ["pedestrian", "vehicle", "bench"]]
    with ReviewQueue.open(data_dir) as queue, queue.read_transaction() as conn:
        events = conn.execute(text("SELECT frame_id, details FROM review_events WHERE action = 'relabel'"
                                   " ORDER BY frame_id")).all()
    assert [(frame_id, json.loads(details)) for frame_id, details in events] == [
        (first["id"], {"renamed": {"car -> vehicle": 1, "person -> pedestrian": 1}}),
        (second["id"], {"renamed": {"Car -> vehicle": 1, "walker -> pedestrian": 1}})]
    assert main(["classes", "apply", "--data-dir", str(data_dir)]) == 0  # nothing left to do
    assert "renamed 0 verified label(s) on 0 frame(s)" in capsys.readouterr().out
