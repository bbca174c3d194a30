"""The consistency API over real HTTP: blind second reviews, adjudication and gold, admins only, CSRF kept."""

import httpx
import pytest

from server.consistency.reviews import ConsistencyPolicy
from server.datadir import DataDir
from server.web.serve import start_review_api
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in


@pytest.fixture
def api(tmp_path, backend):
    images = clip_frames(PETS, (0, 60, 120, 180))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header_for(image, "cam", seq, capture_ts=100.0 + seq, priority=1 - seq / 10),
                              encode(image)) for seq, image in enumerate(images)])
    add_accounts(tmp_path, "alice", "bob")
    add_accounts(tmp_path, "boss", role="admin")
    server = start_review_api(tmp_path, "127.0.0.1:0")
    yield server
    server.stop()


def test_without_a_policy_nothing_is_reviewed_twice_and_a_given_policy_is_served(api, tmp_path):
    # A single reviewer could never finish second reviews, so they are on only when configured ([review]).
    assert api.app.state.queue.consistency == ConsistencyPolicy.off()
    configured = start_review_api(tmp_path, "127.0.0.1:0", ConsistencyPolicy(overlap_rate=0.05, gold_rate=0.01))
    try:
        assert configured.app.state.queue.consistency == ConsistencyPolicy(overlap_rate=0.05, gold_rate=0.01)
    finally:
        configured.stop()


def test_second_review_adjudication_summary_and_gold_over_http(api):
    api.app.state.queue.consistency = ConsistencyPolicy(overlap_rate=1.0, gold_rate=0.0)
    with logged_in(api.url, "alice") as alice, logged_in(api.url, "bob") as bob, logged_in(api.url, "boss") as boss:
        frame = alice.post("/api/queue/claim").json()["frame"]
        boxes = [{k: d[k] for k in ("x1", "y1", "x2", "y2")} | {"class_name": "car", "detection_id": d["id"]}
                 for d in frame["detections"]]
        assert boxes, "the frame needs a pre-label"
        assert alice.post(f"/api/frames/{frame['id']}/submit",
                          json={"decision": "correct", "annotations": boxes}).status_code == 200
        # alice's next claim skips her own frame, also through the skip list path
        again = alice.post("/api/queue/claim", json={"skip": [-1]}).json()["frame"]
        assert again["id"] != frame["id"]
        alice.post(f"/api/frames/{again['id']}/release")

        second = bob.post("/api/queue/claim").json()["frame"]
        assert second["id"] == frame["id"] and second["annotations"] == []
        seen = bob.get(f"/api/frames/{frame['id']}").json()["frame"]
        assert all(e["user"] != "alice" for e in seen["events"]) and seen["annotations"] == []
        assert bob.post(f"/api/frames/{frame['id']}/submit", json={"decision": "accept"}).status_code == 200

        # reviewers may not see or decide adjudications; without the CSRF token nobody may post
        assert bob.get("/api/adjudication").status_code == 403
        assert bob.post(f"/api/adjudication/{frame['id']}", json={"decision": "accept"}).status_code == 403
        assert bob.get("/api/consistency/summary").status_code == 403
        assert bob.post(f"/api/gold/{frame['id']}").status_code == 403
        no_token = httpx.Client(base_url=api.url, cookies=boss.cookies, timeout=10)
        assert no_token.post(f"/api/adjudication/{frame['id']}", json={"decision": "accept"}).status_code == 403
        assert no_token.post(f"/api/adjudication/{frame['id']}", json={"decision": "accept"}).json()["error"] == "csrf"
        no_token.close()
        assert httpx.get(f"{api.url}/api/adjudication").status_code == 401

        listed = boss.get("/api/adjudication").json()["adjudications"]
        assert [a["frame_id"] for a in listed] == [frame["id"]]
        assert (listed[0]["first_reviewer"], listed[0]["second_reviewer"], listed[0]["score"]) == ("alice", "bob", 0.0)
        both = boss.get(f"/api/adjudication/{frame['id']}").json()
        assert [(r["reviewer"], r["kind"]) for r in both["adjudication"]["reviews"]] == [("alice", "first"),
                                                                                         ("bob", "second")]
        assert both["adjudication"]["agreement"]["class_disagreements"] == len(boxes)
        figures = boss.get("/api/consistency/summary").json()
        assert figures["per_reviewer"]["alice"]["frame_ids"] == [frame["id"]]
        assert figures["per_class"]["car"]["f1"] == 0.0
        assert boss.get("/api/consistency/summary", params={"since": "x"}).status_code == 400
        day, = figures["per_reviewer_by_day"]["bob"]
        assert figures["per_reviewer_by_day"]["bob"][day]["frames_with"]["class_disagreements"] == [frame["id"]]
        # the frames behind a number, and one frame's reviews, for admins only
        rows = boss.get("/api/consistency/frames", params={"ids": f"{frame['id']},999999"}).json()["frames"]
        assert [(r["id"], r["adjudication"], r["gold"]) for r in rows] == [(frame["id"], "open", 0)]
        assert boss.get("/api/consistency/frames", params={"ids": "1,x"}).status_code == 400
        view = boss.get(f"/api/consistency/frames/{frame['id']}").json()["consistency"]
        assert [r["kind"] for r in view["reviews"]] == ["first", "second"] and view["overlap"]["score"] == 0.0
        assert boss.get("/api/consistency/frames/999999").status_code == 404
        assert bob.get(f"/api/consistency/frames/{frame['id']}").status_code == 403
        assert bob.get("/api/consistency/frames", params={"ids": "1"}).status_code == 403
        assert boss.post(f"/api/gold/{frame['id']}").status_code == 409  # undecided: not gold yet

        decided = boss.post(f"/api/adjudication/{frame['id']}", json={"decision": "correct", "annotations": boxes})
        assert decided.status_code == 200, decided.text
        after = decided.json()["frame"]
        assert after["status"] == "corrected"
        assert {(a["class_name"], a["author"]) for a in after["annotations"]} == {("car", "boss")}
        assert boss.get("/api/adjudication").json()["adjudications"] == []
        assert boss.post(f"/api/adjudication/{frame['id']}", json={"decision": "accept"}).status_code == 409
        assert boss.post("/api/adjudication/999999", json={"decision": "accept"}).status_code == 404

        gold = boss.post(f"/api/gold/{frame['id']}").json()["gold"]
        assert gold["verdict"] == "corrected" and {b["class_name"] for b in gold["labels"]} == {"car"}
        api.app.state.queue.consistency = ConsistencyPolicy(overlap_rate=0.0, gold_rate=1.0)
        # alice and bob reviewed it: never served to them
        served = alice.post("/api/queue/claim").json()["frame"]
        assert served["id"] != frame["id"]
