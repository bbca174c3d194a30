"""Models in the field: per device and model, the precision reviewers measured and the correction rate
before and after a rollout, on the dashboard, in ``stats`` and ``models list``; exports name each frame's model.

Real frames from a shared clip are ingested as one camera would send them across a rollout (model A,
then B, then a rollback to A) and a second camera on A under two runtimes; reviewers decide through
the review API over HTTP. Every number is checked against the hand count in :data:`EXPECTED`.
"""

import csv
import json
from dataclasses import replace
from xml.etree import ElementTree

import pytest

from edge.contract.wire import Labels
from server.cli import main as collector
from server.datadir import DataDir
from server.exports import Selection, export
from server.exports.naming import safe_name
from server.exports.writing import MARKER
from server.field_precision import field_rows, reviewed_prelabels
from server.models.registry import reviewer_precision
from server.web.serve import start_review_api
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in

A, A_OPENVINO, B = "yolox-a-11111111@ort-cpu", "yolox-a-11111111@openvino-cpu", "yolox-b-22222222@ort-cpu"
PERSON, CAR = (10.0, 10.0, 100.0, 100.0), (150.0, 150.0, 250.0, 300.0)

# (device, seq, model, what the reviewer does); every frame has the two pre-labels above.
FRAMES = [
    ("cam", 0, A, "accept"),  # both kept
    ("cam", 1, A, "move car"),  # 1 kept, 1 changed
    ("cam", 2, A, "reject"),  # says nothing about the boxes
    ("cam", 3, B, "accept"),  # the rollout: 2 kept
    ("cam", 4, B, "accept"),  # 2 kept
    ("cam", 5, B, "delete car, add one"),  # 1 kept, 1 deleted, 1 missed
    ("cam", 6, A, None),  # the rollback, not reviewed yet
    ("cam-2", 0, A, "relabel car"),  # 1 kept, 1 changed
    ("cam-2", 1, A_OPENVINO, None),  # the same weights under another runtime
]
# The hand count of FRAMES, one row per stretch of a device's frames one model pre-labeled.
EXPECTED = [
    {"device": "cam", "model_id": "yolox-a-11111111", "model_ids": [A], "frames": 3, "rejected_frames": 1,
     "verified_frames": 2, "prelabel_boxes": 4, "kept_unchanged": 3, "changed_boxes": 1, "deleted_boxes": 0,
     "added_boxes": 0, "corrected_frames": 1, "precision": 3 / 4, "correction_rate": 1 / 2, "change": None},
    {"device": "cam", "model_id": "yolox-b-22222222", "model_ids": [B], "frames": 3, "rejected_frames": 0,
     "verified_frames": 3, "prelabel_boxes": 6, "kept_unchanged": 5, "changed_boxes": 0, "deleted_boxes": 1,
     "added_boxes": 1, "corrected_frames": 1, "precision": 5 / 6, "correction_rate": 1 / 3,
     "change": {"previous_model_id": "yolox-a-11111111", "precision": 5 / 6 - 3 / 4, "correction_rate": 1 / 3 - 1 / 2}},
    {"device": "cam", "model_id": "yolox-a-11111111", "model_ids": [A], "frames": 1, "rejected_frames": 0,
     "verified_frames": 0, "prelabel_boxes": 0, "kept_unchanged": 0, "changed_boxes": 0, "deleted_boxes": 0,
     "added_boxes": 0, "corrected_frames": 0, "precision": None, "correction_rate": None,
     "change": {"previous_model_id": "yolox-b-22222222", "precision": None, "correction_rate": None}},
    {"device": "cam-2", "model_id": "yolox-a-11111111", "model_ids": [A, A_OPENVINO], "frames": 2,
     "rejected_frames": 0, "verified_frames": 1, "prelabel_boxes": 2, "kept_unchanged": 1, "changed_boxes": 1,
     "deleted_boxes": 0, "added_boxes": 0, "corrected_frames": 1, "precision": 1 / 2, "correction_rate": 1.0,
     "change": None},
]


def rounded(value):
    """``value`` with every float rounded to 9 digits, so a hand-computed fraction compares equal."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def without_times(rows):
    return rounded([{k: v for k, v in row.items() if k not in ("first_capture_ts", "last_capture_ts")}
                    for row in rows])


def submission(action: str, detections: list[dict]) -> dict:
    """What a reviewer sends for ``action`` on a frame with the person and car pre-labels."""
    if action in ("accept", "reject"):
        return {"decision": action}
    boxes = {d["class_name"]: {**{k: d[k] for k in ("x1", "y1", "x2", "y2", "class_name", "track_id")},
                               "detection_id": d["id"]} for d in detections}
    if action == "move car":
        boxes["car"].update(x1=boxes["car"]["x1"] + 20, x2=boxes["car"]["x2"] + 20)
    elif action == "relabel car":
        boxes["car"]["class_name"] = "person"
    elif action == "delete car, add one":
        del boxes["car"]
        boxes["new"] = {"x1": 300.0, "y1": 20.0, "x2": 360.0, "y2": 120.0, "class_name": "person"}
    else:
        raise AssertionError(action)
    return {"decision": "correct", "annotations": list(boxes.values())}


@pytest.fixture
def field(tmp_path, backend):
    """The collector after the reviews of FRAMES, serving the review API; the frames' ids by (device, seq)."""
    images = clip_frames(PETS, tuple(range(0, 40 * len(FRAMES), 40)))
    batch = []
    for image, (device, seq, model, _) in zip(images, FRAMES):
        header = header_for(image, device, seq, capture_ts=1000.0 + seq)
        batch.append((replace(header, model_id=model, labels=Labels(
            xyxy=(PERSON, CAR), score=(0.9, 0.8), class_id=(0, 1), track_id=(1, 2))), encode(image)))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames(batch)
        with store.db.read("frame ids") as conn:
            ids = {(device, seq): frame_id for frame_id, device, seq, status in conn.exec_driver_sql(
                "SELECT id, device, seq, status FROM frames") if status == "pending"}
    assert len(ids) == len(FRAMES), "a frame was taken for a duplicate"
    add_accounts(tmp_path, "alice")
    add_accounts(tmp_path, "admin", role="admin")
    server = start_review_api(tmp_path, "127.0.0.1:0")
    try:
        with logged_in(server.url, "alice") as alice:
            for device, seq, _, action in FRAMES:
                if action is None:
                    continue
                claimed = alice.post("/api/queue/claim", json={"frame_id": ids[device, seq]}).json()["frame"]
                answer = alice.post(f"/api/frames/{claimed['id']}/submit", json=submission(action, claimed["detections"]))
                assert answer.status_code == 200, answer.text
        yield tmp_path, server, ids
    finally:
        server.stop()


def test_field_rows_models_list_and_stats_match_the_hand_count(field, capsys):
    data_dir, _, _ = field
    with DataDir.open_readonly(data_dir) as store:
        with store.db.read("test") as conn:
            rows = field_rows(conn)
            per_model = reviewed_prelabels(conn)
            listed = reviewer_precision(conn)
    assert without_times(rows) == rounded(EXPECTED)
    assert [(row["first_capture_ts"], row["last_capture_ts"]) for row in rows] == [
        (1000.0, 1002.0), (1003.0, 1005.0), (1006.0, 1006.0), (1000.0, 1001.0)]
    # models list reads the same definition, per device and model id with its runtime.
    assert {(r["device"], r["model_id"]): (r["verified_frames"], r["prelabel_boxes"], r["kept_unchanged"])
            for r in per_model} == {("cam", A): (2, 4, 3), ("cam", B): (3, 6, 5), ("cam-2", A): (1, 2, 1)}
    assert listed["yolox-b-22222222"] == [{"device": "cam", "model_id": B, "verified_frames": 3,
                                           "prelabel_boxes": 6, "kept_unchanged": 5, "precision": 5 / 6}]
    assert collector(["stats", "--data-dir", str(data_dir), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert without_times(stats["field"]) == rounded(EXPECTED) and stats["totals"]["frames"] == len(FRAMES)
    assert collector(["stats", "--data-dir", str(data_dir)]) == 0
    assert ("    yolox-b-22222222: 3 frames, 3 reviewed, precision 0.833, correction rate 0.333"
            " (+0.083 precision, -0.167 corrections vs yolox-a-11111111)") in capsys.readouterr().out


def test_the_dashboard_has_the_section_and_its_api_the_rows(field):
    _, server, _ = field
    with logged_in(server.url, "admin") as admin:
        page = admin.get("/dashboard")
        data = admin.get("/api/dashboard").json()
        script = admin.get("/static/dashboard.js").text
    assert page.status_code == 200
    assert "<h2>Models in the field</h2>" in page.text and 'id="field"' in page.text
    assert "Correction rate" in page.text and "/static/dashboard.js" in page.text
    assert without_times(data["field"]) == rounded(EXPECTED)
    # The per-class acceptance keeps its keys and reads the same definition: cam's A has 2 person, 1 car kept.
    cam_a = {row["class_name"]: (row["boxes"], row["unchanged"]) for row in data["acceptance"]
             if (row["device"], row["model_id"]) == ("cam", A)}
    assert cam_a == {"person": (2, 2), "car": (2, 1)}
    assert "#field tbody" in script and "fieldRow" in script


def test_exports_name_the_model_of_each_frame(field, tmp_path):
    data_dir, _, ids = field
    model_of = {ids[device, seq]: model for device, seq, model, action in FRAMES if action != "reject"}
    with DataDir.open_readonly(data_dir) as store:
        for fmt in ("coco", "labelstudio", "yolo", "voc", "cvat", "mot"):
            export(store, fmt, tmp_path / fmt, Selection(status="all"))
    for fmt in ("coco", "labelstudio", "yolo", "voc", "cvat", "mot"):
        manifest = json.loads((tmp_path / fmt / MARKER).read_text())
        assert {frame_id: model for model, frame_ids in manifest["frames_by_model"].items()
                for frame_id in frame_ids} == model_of, fmt
    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_default.json").read_text())
    assert {image["frame_id"]: image["model_id"] for image in coco["images"]} == model_of
    tasks = json.loads((tmp_path / "labelstudio" / "tasks.json").read_text())
    assert {task["id"]: task["data"]["model_id"] for task in tasks} == model_of
    voc = {int(ElementTree.parse(path).findtext("source/frame_id")): ElementTree.parse(path).findtext("source/model_id")
           for path in (tmp_path / "voc" / "Annotations").glob("*.xml")}
    assert voc == model_of
    mot = {}
    for device in ("cam", "cam-2"):
        with (tmp_path / "mot" / safe_name(device) / "frames.csv").open(newline="") as handle:
            mot.update({int(row["frame_id"]): row["model_id"] for row in csv.DictReader(handle)})
    assert mot == model_of
    # Pre-labeled (unreviewed) frames also name it as their predictions' model_version.
    assert {task["id"]: task["predictions"][0]["model_version"] for task in tasks if "predictions" in task} == {
        ids["cam", 6]: A, ids["cam-2", 1]: A_OPENVINO}


def test_the_dashboard_draws_the_rows_in_a_browser(backend, request):
    """dashboard.js turns /api/dashboard's rows into the table (Debian's Chromium, as tests/web drive it)."""
    if backend != "sqlite":
        pytest.skip("the page is the same on every database; the rows are checked on both above")
    from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)", pytrace=False)
    from playwright.sync_api import sync_playwright

    _, server, _ = request.getfixturevalue("field")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/login")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", "admin-passphrase")
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-dashboard-loaded=yes]")
            rows = [[cell.strip() for cell in row] for row in page.eval_on_selector_all(
                "#field tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")]
            bars = page.eval_on_selector_all("#field tbody tr", "rows => rows.map(r => r.querySelectorAll('svg').length)")
        finally:
            browser.close()
    assert [(row[0], row[1], row[4], row[5], row[6], row[7], row[8], row[9]) for row in rows] == [
        ("cam", A, "3", "2", "4", "3 / 1 / 0 / 0", "75 %", "50 %"),
        ("cam", B, "3", "3", "6", "5 / 0 / 1 / 1", "83 %", "33 %"),
        ("cam", A, "1", "0", "0", "0 / 0 / 0 / 0", "–", "–"),
        ("cam-2", f"{A}, {A_OPENVINO}", "2", "1", "2", "1 / 1 / 0 / 0", "50 %", "100 %")]
    assert rows[0][10] == "–" and rows[1][10] == "from yolox-a-11111111: precision +8 pts, corrections −17 pts"
    assert bars == [1, 1, 0, 1]  # a precision bar wherever there is a precision
