"""The taxonomy API over real HTTP: everyone reads it, only admins change it; example crops are
cut from a verified frame's stored JPEG and served as images."""

import cv2
import numpy as np
import pytest

from server.datadir import DataDir
from server.web.serve import start_review_api
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in


@pytest.fixture
def api(tmp_path):
    images = clip_frames(PETS, (0, 60))
    with DataDir.open(tmp_path) as store:  # model yolox-test: one "person" box of a quarter of the frame each
        store.ingest_frames([(header_for(image, "cam", seq, priority=1 - seq / 10), encode(image))
                             for seq, image in enumerate(images)])
    add_accounts(tmp_path, "alice")
    add_accounts(tmp_path, "boss", role="admin")
    server = start_review_api(tmp_path, "127.0.0.1:0")
    yield server
    server.stop()


def test_reviewers_read_the_taxonomy_but_cannot_change_it(api):
    with logged_in(api.url, "alice") as alice, logged_in(api.url, "boss") as boss:
        assert boss.post("/api/taxonomy/classes", json={"name": "pedestrian", "guideline": "On foot.",
                                                        "aliases": ["person"]}).status_code == 200
        taxonomy = alice.get("/api/taxonomy").json()
        assert [(c["name"], c["guideline"], c["aliases"]) for c in taxonomy["classes"]] == [
            ("pedestrian", "On foot.", ["person"])]
        assert taxonomy["models"] == [{"model_id": "yolox-test", "unmapped": ["car"], "classes": [
            {"model_class": "person", "class_name": "pedestrian", "how": "alias"},
            {"model_class": "car", "class_name": None, "how": None}]}]
        for method, path, body in [
            ("POST", "/api/taxonomy/classes", {"name": "pedestrian", "guideline": "Anything."}),
            ("DELETE", "/api/taxonomy/classes?name=pedestrian", None),
            ("POST", "/api/taxonomy/mapping", {"model_id": "yolox-test", "model_class": "car",
                                               "class_name": "pedestrian"}),
            ("POST", "/api/taxonomy/examples", {"class_name": "pedestrian", "annotation_id": 1}),
            ("DELETE", "/api/taxonomy/examples/1", None),
            ("GET", "/api/taxonomy/candidates?class=pedestrian", None),
        ]:
            answer = alice.request(method, path, json=body)
            assert (answer.status_code, answer.json()["error"]) == (403, "forbidden"), (method, path)
        assert alice.get("/api/taxonomy").json()["classes"][0]["guideline"] == "On foot."
        # a page of admins only
        assert alice.get("/classes").status_code == 403 and boss.get("/classes").status_code == 200


def test_admin_maps_classes_and_picks_an_example_crop(api):
    with logged_in(api.url, "alice") as alice, logged_in(api.url, "boss") as boss:
        boss.post("/api/taxonomy/classes", json={"name": "pedestrian", "aliases": ["walker"]})
        boss.post("/api/taxonomy/classes", json={"name": "vehicle"})
        clash = boss.post("/api/taxonomy/classes", json={"name": "Walker"})
        assert clash.status_code == 400 and "already taken" in clash.json()["detail"]
        mapped = boss.post("/api/taxonomy/mapping", json={"model_id": "yolox-test", "model_class": "person",
                                                          "class_name": "walker"}).json()
        assert mapped["models"][0]["classes"][0] == {"model_class": "person", "class_name": "pedestrian",
                                                     "how": "mapped"}
        assert boss.post("/api/taxonomy/mapping", json={"model_id": "yolox-test", "model_class": "car",
                                                        "class_name": "cyclist"}).status_code == 404

        frame = alice.post("/api/queue/claim").json()["frame"]
        assert [d["class_name"] for d in frame["detections"]] == ["pedestrian"]
        assert frame["class_names"] == ["pedestrian", "vehicle"]
        pending_annotation = boss.post("/api/taxonomy/examples", json={"class_name": "pedestrian",
                                                                       "annotation_id": 1})
        assert pending_annotation.status_code == 404  # nothing verified yet
        alice.post(f"/api/frames/{frame['id']}/submit", json={"decision": "accept"})
        candidates = boss.get("/api/taxonomy/candidates", params={"class": "walker"}).json()["candidates"]
        assert [(c["frame_id"], c["class_name"]) for c in candidates] == [(frame["id"], "pedestrian")]
        wrong_class = boss.post("/api/taxonomy/examples", json={"class_name": "vehicle",
                                                                "annotation_id": candidates[0]["annotation_id"]})
        assert wrong_class.status_code == 400 and "is a 'pedestrian', not a 'vehicle'" in wrong_class.json()["detail"]
        example = boss.post("/api/taxonomy/examples", json={"class_name": "pedestrian",
                                                            "annotation_id": candidates[0]["annotation_id"]})
        assert example.status_code == 200, example.text
        example = example.json()["example"]
        again = boss.post("/api/taxonomy/examples", json={"class_name": "pedestrian",
                                                          "annotation_id": candidates[0]["annotation_id"]})
        assert again.status_code == 400 and "already an example" in again.json()["detail"]

        # The reviewer sees it with the guideline, and loads the crop: the box's region with some context.
        shown = alice.get("/api/taxonomy").json()["classes"][0]["examples"]
        assert [e["id"] for e in shown] == [example["id"]]
        image = alice.get(f"/media/{example['media']}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        crop = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
        box = frame["detections"][0]
        assert crop.shape[:2] == (example["height"], example["width"])
        assert example["width"] >= box["x2"] - box["x1"] and example["height"] >= box["y2"] - box["y1"]
        assert example["width"] <= (box["x2"] - box["x1"]) * 1.31 + 2

        assert boss.delete(f"/api/taxonomy/examples/{example['id']}").status_code == 200
        assert boss.delete(f"/api/taxonomy/examples/{example['id']}").status_code == 404
        removed = boss.delete("/api/taxonomy/classes", params={"name": "pedestrian"}).json()
        assert [c["name"] for c in removed["classes"]] == ["vehicle"]
        assert removed["models"][0]["unmapped"] == ["person", "car"]
