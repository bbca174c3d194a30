"""Class guidelines and adjudication in a real browser, against a real collector with real frames.

Its own collector: overlap reviews on for every frame ([review] overlap_rate = 1), a class taxonomy
imported with the real command. Two reviewers work through the HTTP API first (one frame they
agree on, one they do not); then a reviewer sees a class's guideline in the review screen and the
admin finds the disagreement on the consistency dashboard and adjudicates it.
"""

import json
import sqlite3

import pytest

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import FrameHeader, Labels
from edge.detection.runner import Detector
from server.cli import main as collector_main
from server.datadir import DataDir
from tests.conftest import MODEL_PATH
from tests.server._frames import PETS, clip_frames, encode
from tests.server._login import logged_in
from tests.web.collector import CollectorProcess, add_account
from tests.web.conftest import PASSWORD, log_in

pytestmark = pytest.mark.slow

FRAME_INDICES = (0, 40, 80, 120, 160, 200)
GUIDELINE = "Anyone on foot, also pushing a pram. Box the whole body, hidden parts too."


def taxonomy_toml(model_id: str) -> str:
    return f"""\
[classes.pedestrian]
guideline = "{GUIDELINE}"
aliases = ["person", "walker"]

[classes.vehicle]
guideline = "Cars, vans, bicycles."
aliases = ["automobile"]

[models."{model_id}"]
car = "vehicle"
bicycle = "vehicle"
"""


def ingest(data_dir) -> str:
    """PETS frames pre-labeled by the real detector; the model id."""
    detector = Detector(MODEL_PATH, threads=2)
    batch = []
    for seq, image in zip(FRAME_INDICES, clip_frames(PETS, FRAME_INDICES)):
        found = detector.detect(image)
        height, width = image.shape[:2]
        labels = Labels(xyxy=tuple(tuple(float(v) for v in box) for box in found.xyxy),
                        score=tuple(float(s) for s in found.confidence),
                        class_id=tuple(int(c) for c in found.class_id), track_id=tuple(-1 for _ in found.class_id))
        batch.append((FrameHeader(device="cam", seq=seq, capture_ts=1_700_000_000.0 + seq, width=width, height=height,
                                  model_id=detector.model_id, class_names=tuple(detector.class_names), labels=labels,
                                  reasons=("test",), priority=1.0 - seq / 1000, phash=phash_hex(phash64(image))),
                      encode(image)))
    with DataDir.open(data_dir) as store:
        store.ingest_frames(batch)
    return detector.model_id


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """(collector, data dir, the frame both agreed on, the disagreed frame)."""
    data_dir = tmp_path_factory.mktemp("team")
    model_id = ingest(data_dir)
    for name, role in (("alice", "reviewer"), ("bob", "reviewer"), ("root", "admin")):
        add_account(data_dir, name, role, PASSWORD[name])
    taxonomy = data_dir.parent / "taxonomy.toml"
    taxonomy.write_text(taxonomy_toml(model_id))
    assert collector_main(["classes", "import", str(taxonomy), "--data-dir", str(data_dir)]) == 0
    config = data_dir.parent / "collector.toml"
    config.write_text("[review]\noverlap_rate = 1.0\ngold_rate = 0.0\nagreement_threshold = 1.0\n")  # any difference
    collector = CollectorProcess(data_dir, ("--config", str(config)))
    try:
        with logged_in(collector.url, "alice") as alice, logged_in(collector.url, "bob") as bob, \
                logged_in(collector.url, "root") as root:
            agreed = review_twice(alice, bob, alice_changes=False)
            candidates = root.get("/api/taxonomy/candidates", params={"class": "pedestrian"}).json()["candidates"]
            assert candidates, "the agreed frame has no pedestrian box"
            example = root.post("/api/taxonomy/examples", json={"class_name": "pedestrian",
                                                                "annotation_id": candidates[0]["annotation_id"]})
            assert example.status_code == 200, example.text
            disagreed = review_twice(alice, bob, alice_changes=True)
            assert [a["frame_id"] for a in root.get("/api/adjudication").json()["adjudications"]] == [disagreed]
        yield collector, data_dir, agreed, disagreed
    finally:
        collector.stop()


def review_twice(alice, bob, alice_changes: bool) -> int:
    """alice reviews the next frame blind (accepting it, or calling its first box a vehicle), then bob accepts it."""
    frame = alice.post("/api/queue/claim").json()["frame"]
    people = [i for i, d in enumerate(frame["detections"]) if d["model_class"] == "person"]
    assert people and frame["detections"][people[0]]["class_name"] == "pedestrian"  # by the alias "person"
    if alice_changes:
        boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2", "class_name")} | {"detection_id": d["id"]}
                 for d in frame["detections"]]
        boxes[people[0]]["class_name"] = "automobile"  # an alias: stored as vehicle
        body = {"decision": "correct", "annotations": boxes}
    else:
        body = {"decision": "accept"}
    assert alice.post(f"/api/frames/{frame['id']}/submit", json=body).status_code == 200
    second = bob.post("/api/queue/claim").json()["frame"]
    assert second["id"] == frame["id"]
    assert bob.post(f"/api/frames/{frame['id']}/submit", json={"decision": "accept"}).status_code == 200
    return frame["id"]


def db(data_dir) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "edgelabel.db")


def test_a_reviewer_sees_the_guideline_of_the_selected_box(team, browser, artifacts_dir):
    collector, data_dir, _, _ = team
    context, page = log_in(browser, collector.url, "alice")
    try:
        page.wait_for_function("() => /^[0-9]+$/.test(document.body?.dataset.frameId || '')", timeout=10_000)
        frame_id = int(page.evaluate("document.body.dataset.frameId"))
        with db(data_dir) as conn:
            width, = conn.execute("SELECT width FROM frames WHERE id = ?", [frame_id]).fetchone()
            boxes = conn.execute("SELECT x1, y1, x2, y2 FROM detections WHERE frame_id = ? AND class_name = 'person'"
                                 " ORDER BY (x2 - x1) * (y2 - y1) DESC", [frame_id]).fetchall()
        assert boxes
        page.keyboard.press("Escape")  # nothing selected: no guideline
        assert page.locator("#guideline").is_hidden()
        x1, y1, x2, y2 = boxes[0]
        canvas = page.locator("#frame").bounding_box()
        scale = canvas["width"] / width
        page.mouse.click(canvas["x"] + (x1 + x2) / 2 * scale, canvas["y"] + (y1 + y2) / 2 * scale)
        page.locator("#guideline").wait_for(state="visible")
        assert page.locator("#guideline-class").text_content() == "pedestrian"
        assert page.locator("#guideline-text").text_content() == GUIDELINE
        example = page.locator("#guideline-examples img").first
        example.wait_for(state="visible")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#guideline-examples img')].every((i) => i.complete && i.naturalWidth > 0)")
        assert page.locator("#boxes li.selected").text_content().startswith("pedestrian")
        page.screenshot(path=str(artifacts_dir / "review-guideline.png"))
        # typing an alias picks its class
        page.keyboard.press("c")
        page.keyboard.type("automobile")
        page.keyboard.press("Enter")
        assert page.locator("#boxes li.selected").text_content().startswith("vehicle")
        assert page.locator("#guideline-class").text_content() == "vehicle"
        assert page.locator("#guideline-text").text_content() == "Cars, vans, bicycles."
    finally:
        context.close()


def test_an_admin_adjudicates_a_disagreement_from_the_dashboard(team, browser, artifacts_dir):
    collector, data_dir, agreed, disagreed = team
    context, page = log_in(browser, collector.url, "root")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(f"{collector.url}/consistency")
        page.wait_for_function("() => document.body?.dataset.consistencyLoaded === 'yes'")
        alice_row = page.locator("#per-reviewer tbody tr", has_text="alice")
        assert alice_row.locator("td").nth(1).text_content() == "2"  # two blind pairs
        page.screenshot(path=str(artifacts_dir / "consistency.png"), full_page=True)
        # a number leads to its frames, a frame to its view
        alice_row.locator("td").nth(4).locator("a").click()  # class disagreements
        page.wait_for_url("**/consistency/frames?*")  # the new page, not the old one mid-navigation
        page.wait_for_function("() => document.body?.dataset.framesLoaded === 'yes'")
        assert page.locator("#frames figure").count() == 1
        page.locator("#frames figure a").first.click()
        page.wait_for_url(f"**/consistency/frame?id={disagreed}")
        page.wait_for_function("() => document.body?.dataset.frameLoaded === 'yes'")
        assert page.url.endswith(f"/consistency/frame?id={disagreed}")
        assert "adjudication open" in page.locator("#reviews").text_content()
        page.go_back()
        page.go_back()
        page.wait_for_function("() => document.body?.dataset.consistencyLoaded === 'yes'")

        # The adjudication page without a frame lists the open ones, each a link.
        page.goto(f"{collector.url}/adjudicate")
        page.wait_for_function("() => document.body?.dataset.adjudicationList !== undefined")
        assert page.locator("#open-adjudications a").all_text_contents() == [f"frame {disagreed}"]
        assert page.locator("#decision-section").is_hidden()
        page.go_back()
        page.wait_for_function("() => document.body?.dataset.consistencyLoaded === 'yes'")
        page.locator("#adjudications tbody tr", has_text=f"frame {disagreed}").get_by_role("link", name="adjudicate").click()
        page.wait_for_url(f"**/adjudicate?frame={disagreed}")
        page.wait_for_function("() => document.body?.dataset.adjudicationLoaded === 'yes'")
        columns = page.locator(".review-column")
        assert [columns.nth(i).get_attribute("data-reviewer") for i in range(columns.count())] == ["alice", "bob"]
        # alice called one person a vehicle: that box is ringed on both sides, nothing else
        assert [columns.nth(i).locator("canvas").get_attribute("data-disputed") for i in range(2)] == ["1", "1"]
        page.screenshot(path=str(artifacts_dir / "adjudication.png"), full_page=True)
        page.locator(".review-column[data-reviewer=alice] button.take").click()
        page.wait_for_function("() => document.body?.dataset.adjudicated !== undefined")
        assert dialogs == []
        with db(data_dir) as conn:
            status, = conn.execute("SELECT status FROM frames WHERE id = ?", [disagreed]).fetchone()
            labels = conn.execute("SELECT class_name, author FROM annotations WHERE frame_id = ? ORDER BY id",
                                  [disagreed]).fetchall()
            alices, = conn.execute("SELECT labels FROM reviews WHERE frame_id = ? AND kind = 'first'",
                                   [disagreed]).fetchone()
            state, = conn.execute("SELECT state FROM adjudications WHERE frame_id = ?", [disagreed]).fetchone()
        assert status == "corrected" and state == "resolved"
        assert labels == [(box["class_name"], "root") for box in json.loads(alices)]
        assert ("vehicle", "root") in labels and ("pedestrian", "root") in labels
        page.goto(f"{collector.url}/consistency")
        page.wait_for_function("() => document.body?.dataset.consistencyLoaded === 'yes'")
        assert page.locator("#adjudications tbody tr").count() == 0
    finally:
        context.close()
