"""The model registry and ``models evaluate`` with the real shared model, run by the agent's own code
in a subprocess, on real frames a test verified through the review API and queue."""

import hashlib
import json
import subprocess
import sys
from dataclasses import replace

import onnx
import pytest

from edge.contract.wire import DeviceStatus
from server.cli import main as collector
from server.datadir import DataDir
from server.media.gc import collect_garbage
from server.models import ModelRegistryError
from server.models.evaluation import (
    Prediction,
    VerifiedFrame,
    evaluate,
    read_manifest,
    score_model,
    verified_frames,
)
from server.models.registry import add_model, list_models
from server.review.queue import ReviewQueue
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.model import ClassSpec, Taxonomy
from server.web.serve import start_review_api
from tests.conftest import DATA_DIR
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in

MODEL = DATA_DIR.parent / "models" / "yolox_nano.onnx"
WEIGHTS_ID = f"yolox_nano-{hashlib.sha256(MODEL.read_bytes()).hexdigest()[:8]}"


def test_add_stores_the_file_by_its_hash_with_what_the_agent_reads_and_list_names_the_devices(tmp_path, any_media):
    with DataDir.open(tmp_path, media=any_media) as store:
        model = add_model(store.db, store.media, MODEL, "nano", now=5.0)
        assert (model.model_id, model.layout, model.input_height, model.input_width, model.format) == (
            WEIGHTS_ID, "yolox", 416, 416, "onnx")
        assert len(model.class_names) == 80 and model.class_names[0] == "person"
        assert model.sha256 == hashlib.sha256(MODEL.read_bytes()).hexdigest()
        assert store.media.get(model.sha256) == MODEL.read_bytes()
        with pytest.raises(ModelRegistryError, match="registered already, as 'nano'"):
            add_model(store.db, store.media, MODEL, "again")
        store.record_status(DeviceStatus("cam-1", 10.0, f"{WEIGHTS_ID}@ort-cpu"))
        store.record_status(DeviceStatus("cam-2", 10.0, "other-12345678@ort-cpu"))
        [listed] = list_models(store.db)
        assert listed["name"] == "nano" and [d["device"] for d in listed["devices"]] == ["cam-1"]
        # The model file is a reference: gc with no grace period keeps it.
        assert collect_garbage(store.db, store.media, 0.0, dry_run=True).orphans == 0


def test_list_shows_per_device_the_share_of_pre_labels_reviewers_kept(tmp_path, backend, capsys):
    images = clip_frames(PETS, (0, 60, 120, 180))
    headers = [replace(header_for(image, "cam", seq, capture_ts=100.0 + seq), model_id=f"{WEIGHTS_ID}@ort-cpu")
               for seq, image in enumerate(images[:3])]
    headers.append(header_for(images[3], "cam", 3))  # another model's frame
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header, encode(image)) for header, image in zip(headers, images)])
        add_model(store.db, store.media, MODEL, "nano")
    with ReviewQueue.open(tmp_path) as queue:
        ids = sorted(f["id"] for f in queue.next(limit=10))
        for frame_id, decision in zip(ids, ("accept", "correct", "reject", "accept")):
            frame = queue.claim("alice", frame_id)
            moved = [{**{k: d[k] for k in ("y1", "y2", "class_name", "track_id")}, "x1": d["x1"] + 20,
                      "x2": d["x2"] + 20, "detection_id": d["id"]} for d in frame["detections"]]
            queue.submit("alice", frame_id, decision, annotations=moved if decision == "correct" else None)
    with DataDir.open_readonly(tmp_path) as store:
        [listed] = list_models(store.db)
    # One box kept as the model drew it (accepted), one moved (corrected); the rejected frame does not count.
    assert listed["reviewed"] == [{"device": "cam", "model_id": f"{WEIGHTS_ID}@ort-cpu", "verified_frames": 2,
                                   "prelabel_boxes": 2, "kept_unchanged": 1, "precision": 0.5}]
    assert collector(["models", "list", "--data-dir", str(tmp_path)]) == 0
    assert "reviewers kept 1 of 2 pre-labels unchanged on 2 verified frames (precision 0.500)" in capsys.readouterr().out


def test_the_cli_registers_and_lists_and_refuses_in_one_line(tmp_path, capsys):
    assert collector(["models", "add", str(MODEL), "--name", "nano", "--data-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_id"] == WEIGHTS_ID
    assert collector(["models", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["nano"]
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    assert collector(["models", "add", str(bad), "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("edgelabel-collector models: error: cannot read model broken.onnx") and "\n" not in error


def test_manifests_in_every_accepted_shape(tmp_path):
    shapes = {"list.json": "[3, 1]", "objects.json": '{"frames": [{"id": 1}, {"frame_id": 3}]}',
              "lines.txt": "# training frames\n1\n3\n"}
    for name, content in shapes.items():
        (tmp_path / name).write_text(content)
        assert read_manifest(tmp_path / name) == {1, 3}
    (tmp_path / "bad.json").write_text('["x"]')
    with pytest.raises(ModelRegistryError, match="'x' is not a frame id"):
        read_manifest(tmp_path / "bad.json")


def test_scores_of_a_small_case_by_hand():
    frames = [VerifiedFrame(1, "cam", 1.0, "0" * 64, 100, 100, (((0, 0, 10, 10), "car"), ((50, 50, 60, 60), "car"))),
              VerifiedFrame(2, "cam", 2.0, "0" * 64, 100, 100, (((20, 20, 40, 40), "person"),))]
    predictions = {1: [Prediction((0, 0, 10, 11), 0.9, "car"),  # tp (IoU 10/11)
                       Prediction((80, 80, 90, 90), 0.8, "car"),  # fp
                       Prediction((50, 50, 60, 60), 0.2, "car"),  # below the operating threshold: ranks for AP only
                       Prediction((1, 1, 5, 5), 0.1, "dog")],  # weak, of a class nobody labelled
                   2: [Prediction((20, 20, 40, 40), 0.7, "car")]}  # right place, wrong class: fp, and a miss
    score = score_model("m", "m-1", frames, predictions, ["car", "person"], operating_threshold=0.3)
    assert {c: (v["tp"], v["fp"], v["fn"]) for c, v in score.per_class.items()} == {"car": (1, 2, 1),
                                                                                  "person": (0, 0, 1)}
    assert score.per_class["car"]["precision"] == pytest.approx(1 / 3) and score.per_class["car"]["recall"] == 0.5
    assert score.per_class["person"]["precision"] is None and score.per_class["person"]["recall"] == 0
    assert (score.overall["tp"], score.overall["fp"], score.overall["fn"]) == (1, 2, 2)
    assert {f: vars(c) for f, c in score.frames.items()} == {1: {"tp": 1, "fp": 1, "fn": 1}, 2: {"tp": 0, "fp": 1,
                                                                                               "fn": 1}}
    # car ranked 0.9 tp, 0.8 fp, 0.7 fp, 0.2 tp: precision envelope 1 up to recall 0.5, then 0.5 up to 1.
    assert score.per_class["car"]["ap50"] == pytest.approx((51 * 1.0 + 50 * 0.5) / 101)
    assert score.per_class["person"]["ap50"] == 0.0


def agent_boxes(images, tmp_path, threshold=0.3):
    """What the agent's detector keeps on each image (the command a device's operator would run)."""
    paths = []
    for number, image in enumerate(images):
        paths.append(tmp_path / f"probe{number}.jpg")
        paths[-1].write_bytes(encode(image))
    out = subprocess.run([sys.executable, "-m", "edge", "detect", "--json", "--model", str(MODEL),
                          "--score-threshold", str(threshold), *map(str, paths)],
                         capture_output=True, text=True, check=True).stdout
    return [result["detections"] for result in json.loads(out)["images"]]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


@pytest.fixture
def verified(tmp_path, backend):
    """Three PETS frames a reviewer verified through the review API with boxes chosen against the model's own: a
    taxonomy with one class 'pedestrian' that the model's 'person' maps to."""
    images = clip_frames(PETS, (0, 60, 120))
    data_dir = tmp_path / "data"
    with DataDir.open(data_dir) as store:
        store.ingest_frames([(header_for(image, "cam", seq, capture_ts=100.0 + seq), encode(image))
                             for seq, image in enumerate(images)])
        add_model(store.db, store.media, MODEL, "nano")
        with store.db.write() as conn:
            taxonomy = Taxonomy((ClassSpec("pedestrian"),)).with_mapping(WEIGHTS_ID, "person", "pedestrian")
            taxonomy_queries.save(conn, taxonomy, "admin", 1.0)
    # Re-encoded as the collector stores them: the same bytes the evaluation reads.
    found = agent_boxes(images, tmp_path)
    people = [[d["xyxy"] for d in boxes if d["class_name"] == "person"] for boxes in found]
    assert all(len(boxes) >= 3 for boxes in people), "the PETS frames show several people"
    # Three people the model did not find (boxes no kept box touches).
    missed = [(2.0, 2.0, 14.0, 30.0), (460.0, 320.0, 476.0, 356.0), (2.0, 320.0, 16.0, 356.0)]
    assert all(iou(box, kept) == 0 for box in missed for boxes in people for kept in boxes)
    labels = {0: people[0][:-1] + missed,  # one model box wrong (fp), three people missed (fn)
              1: people[1],  # every box right
              2: people[2][1:]}  # one more fp
    # A reviewer corrects each frame through the review API, over HTTP.
    add_accounts(data_dir, "alice")
    server = start_review_api(data_dir, "127.0.0.1:0")
    try:
        with logged_in(server.url, "alice") as alice:
            ids = sorted(f["id"] for f in alice.get("/api/queue", params={"limit": 10}).json()["frames"])
            for number, frame_id in enumerate(ids):
                assert alice.post("/api/queue/claim", json={"frame_id": frame_id}).status_code == 200
                boxes = [{"x1": x1, "y1": y1, "x2": x2, "y2": y2, "class_name": "pedestrian"}
                         for x1, y1, x2, y2 in labels[number]]
                answer = alice.post(f"/api/frames/{frame_id}/submit", json={"decision": "correct", "annotations": boxes})
                assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    per_frame = {ids[0]: {"tp": len(people[0]) - 1, "fp": 1, "fn": 3},
                 ids[1]: {"tp": len(people[1]), "fp": 0, "fn": 0},
                 ids[2]: {"tp": len(people[2]) - 1, "fp": 1, "fn": 0}}
    return data_dir, ids, per_frame


def test_precision_and_recall_match_the_hand_count(verified):
    data_dir, ids, per_frame = verified
    with DataDir.open_readonly(data_dir) as store:
        result = evaluate(store, "nano")
    assert len(result.frames) == 3 and result.classes == ["pedestrian"]
    assert {frame_id: vars(counts) for frame_id, counts in result.candidate.frames.items()} == per_frame
    tp = sum(counts["tp"] for counts in per_frame.values())
    counts = result.candidate.per_class["pedestrian"]
    assert (counts["tp"], counts["fp"], counts["fn"]) == (tp, 2, 3)
    assert counts["precision"] == pytest.approx(tp / (tp + 2))
    assert counts["recall"] == pytest.approx(tp / (tp + 3))
    assert result.candidate.overall["precision"] == counts["precision"]
    # The reference boxes are the model's own, so a match holds at every IoU: COCO mAP equals AP50,
    # and the missed people keep both below 1.
    assert 0 < counts["ap50"] < 1 and counts["map"] == pytest.approx(counts["ap50"])
    with DataDir.open_readonly(data_dir) as store:
        with store.db.read() as conn:  # --since and --device select the frames (capture times 100, 101, 102)
            assert [f.id for f in verified_frames(conn, since=101.0)] == ids[1:]
            assert [f.id for f in verified_frames(conn, device="cam", exclude=[ids[1]])] == [ids[0], ids[2]]
        with pytest.raises(ModelRegistryError, match="no verified frames match"):
            evaluate(store, "nano", device="elsewhere")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the queries ran on both above
def test_baseline_exclusion_and_report(verified, tmp_path, capsys):
    data_dir, ids, _ = verified
    # The same weights with one more metadata entry: another file (another hash), the same boxes.
    variant = onnx.load(str(MODEL))
    onnx.helper.set_model_props(variant, {"note": "variant"})
    onnx.save(variant, str(tmp_path / "nano_v2.onnx"))
    assert collector(["models", "add", str(tmp_path / "nano_v2.onnx"), "--data-dir", str(data_dir), "--json"]) == 0
    variant_id = json.loads(capsys.readouterr().out)["model_id"]
    # A taxonomy mapping names one model's weights: until the variant has its own, its people count nowhere.
    with DataDir.open_readonly(data_dir) as store:
        unmapped = evaluate(store, "nano_v2")
    assert unmapped.classes == ["pedestrian"] and unmapped.candidate.per_class["pedestrian"]["tp"] == 0
    assert unmapped.candidate.ignored_boxes > 0
    with DataDir.open(data_dir) as store, store.db.write() as conn:
        taxonomy_queries.save(conn, taxonomy_queries.load(conn).with_mapping(variant_id, "person", "pedestrian"),
                              "admin", 2.0)
    # The candidate was "trained" on an export of the first frame: its manifest leaves that frame out.
    train = tmp_path / "train"
    assert collector(["export", "coco", "--data-dir", str(data_dir), "--out", str(train), "--until", "100.5"]) == 0
    assert read_manifest(train) == {ids[0]}
    capsys.readouterr()
    report = tmp_path / "report"
    assert collector(["models", "evaluate", "nano_v2", "--baseline", "nano", "--exclude-from", str(train),
                      "--data-dir", str(data_dir), "--report", str(report), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 2 and summary["filters"]["excluded"] == 1
    assert summary["candidate"]["per_class"] == summary["baseline"]["per_class"]
    assert summary["candidate"]["per_class"]["pedestrian"]["fp"] == 1  # frame 3's; frame 1's is excluded
    assert summary["differing_frames"] == []
    assert json.loads((report / "summary.json").read_text()) == summary
    page = (report / "index.html").read_text()
    assert "nano_v2 vs nano" in page and "pedestrian" in page
    assert sorted(p.name for p in (report / "frames").iterdir()) == [f"{ids[1]}.jpg", f"{ids[2]}.jpg"]
