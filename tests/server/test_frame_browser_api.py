"""The admin's frame browser over real HTTP: filters by device, capture time, status and class, a
page at a time, every bad filter a 400 naming it, admins only."""

import httpx
import pytest

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import FrameHeader, Labels
from server.datadir import DataDir
from server.web.serve import start_review_api
from tests.server._frames import PETS, clip_frames, encode
from tests.server._login import add_accounts, logged_in

CLASSES = ("person", "car")
FRAMES = (  # (device, seq, capture time, the model's box classes)
    ("cam-a", 0, 100.0, ("person",)),
    ("cam-a", 1, 101.0, ("car",)),
    ("cam-a", 2, 102.0, ("person", "car")),
    ("cam-b", 0, 200.0, ("car",)),
    ("cam-b", 1, 201.0, ("person",)),
)


def header(image, device: str, seq: int, capture_ts: float, classes: tuple[str, ...]) -> FrameHeader:
    height, width = image.shape[:2]
    boxes = tuple((10.0 + 60 * i, 10.0, 60.0 + 60 * i, 80.0) for i in range(len(classes)))
    return FrameHeader(device=device, seq=seq, capture_ts=capture_ts, width=width, height=height,
                       model_id="yolox-test", class_names=CLASSES, frame_index=seq,
                       labels=Labels(xyxy=boxes, score=(0.9,) * len(classes),
                                     class_id=tuple(CLASSES.index(c) for c in classes), track_id=(-1,) * len(classes)),
                       reasons=("test",), priority=0.5, phash=phash_hex(phash64(image)))


@pytest.fixture
def site(tmp_path, backend):
    images = clip_frames(PETS, tuple(range(0, 100, 20)))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header(image, *frame), encode(image)) for image, frame in zip(images, FRAMES)])
    add_accounts(tmp_path, "alice")
    add_accounts(tmp_path, "boss", role="admin")
    server = start_review_api(tmp_path, "127.0.0.1:0")
    try:
        with logged_in(server.url, "alice") as alice, logged_in(server.url, "boss") as boss:
            ids = {(f["device"], f["seq"]): f["id"] for f in boss.get("/api/frames").json()["frames"]}
            # cam-a/0 verified with its person box corrected to a bicycle, and made gold; cam-b/1 rejected
            first = alice.post("/api/queue/claim", json={"frame_id": ids["cam-a", 0]}).json()["frame"]
            box = {k: first["detections"][0][k] for k in ("x1", "y1", "x2", "y2")} | {"class_name": "bicycle"}
            assert alice.post(f"/api/frames/{first['id']}/submit",
                              json={"decision": "correct", "annotations": [box]}).status_code == 200
            assert boss.post(f"/api/gold/{first['id']}").status_code == 200
            alice.post("/api/queue/claim", json={"frame_id": ids["cam-b", 1]})
            assert alice.post(f"/api/frames/{ids['cam-b', 1]}/submit", json={"decision": "reject"}).status_code == 200
            yield server, alice, boss, ids
    finally:
        server.stop()


def listed(client: httpx.Client, **params) -> list[tuple[str, int]]:
    answer = client.get("/api/frames", params=params)
    assert answer.status_code == 200, answer.text
    return [(f["device"], f["seq"]) for f in answer.json()["frames"]]


def test_filters_narrow_the_list_newest_capture_first(site):
    _, _, boss, _ = site
    assert listed(boss) == [("cam-b", 1), ("cam-b", 0), ("cam-a", 2), ("cam-a", 1), ("cam-a", 0)]
    assert listed(boss, device="cam-a") == [("cam-a", 2), ("cam-a", 1), ("cam-a", 0)]
    assert listed(boss, since="101", until="200") == [("cam-b", 0), ("cam-a", 2), ("cam-a", 1)]
    assert listed(boss, status="verified") == [("cam-a", 0)]
    assert listed(boss, status="rejected") == [("cam-b", 1)]
    assert listed(boss, status="queued") == [("cam-b", 0), ("cam-a", 2), ("cam-a", 1)]
    # A verified frame is found by its verified labels, the others by the model's boxes.
    assert listed(boss, **{"class": "person"}) == [("cam-b", 1), ("cam-a", 2)]
    assert listed(boss, **{"class": "bicycle"}) == [("cam-a", 0)]
    assert listed(boss, device="cam-a", **{"class": "car"}) == [("cam-a", 2), ("cam-a", 1)]
    assert listed(boss, **{"class": "zebra"}) == []
    # Empty values (a form's untouched fields) leave their filter out.
    assert len(listed(boss, device="", status="", since="", limit="")) == 5


def test_a_row_says_where_the_frame_comes_from_and_what_it_holds(site):
    _, _, boss, ids = site
    rows = {(f["device"], f["seq"]): f for f in boss.get("/api/frames").json()["frames"]}
    gold = rows["cam-a", 0]
    assert (gold["id"], gold["capture_ts"], gold["frame_index"], gold["status"]) == (ids["cam-a", 0], 100.0, 0,
                                                                                      "corrected")
    assert gold["gold"] is True and gold["classes"] == {"bicycle": 1} and len(gold["media_sha256"]) == 64
    assert rows["cam-a", 2]["classes"] == {"car": 1, "person": 1} and rows["cam-a", 2]["gold"] is False
    assert boss.get(f"/media/{gold['media_sha256']}").status_code == 200


def test_model_boxes_are_found_under_their_project_class(site):
    _, _, boss, _ = site
    assert boss.post("/api/taxonomy/classes", json={"name": "pedestrian"}).status_code == 200
    assert boss.post("/api/taxonomy/mapping", json={"model_id": "yolox-test", "model_class": "person",
                                                    "class_name": "pedestrian"}).status_code == 200
    assert listed(boss, **{"class": "pedestrian"}) == [("cam-b", 1), ("cam-a", 2)]
    assert listed(boss, **{"class": "person"}) == []
    rows = {(f["device"], f["seq"]): f for f in boss.get("/api/frames").json()["frames"]}
    assert rows["cam-a", 2]["classes"] == {"car": 1, "pedestrian": 1}
    assert "pedestrian" in boss.get("/api/frames/choices").json()["classes"]


def test_pages_and_choices(site):
    _, _, boss, _ = site
    page = boss.get("/api/frames", params={"limit": 2, "offset": 2}).json()
    assert ([(f["device"], f["seq"]) for f in page["frames"]], page["total"], page["limit"], page["offset"]) == (
        [("cam-a", 2), ("cam-a", 1)], 5, 2, 2)
    assert boss.get("/api/frames", params={"offset": 5}).json() == {"frames": [], "total": 5, "limit": 50, "offset": 5}
    choices = boss.get("/api/frames/choices").json()
    assert choices["devices"] == ["cam-a", "cam-b"]
    assert {"bicycle", "car", "person"} <= set(choices["classes"])
    assert {"queued", "verified", "pending", "duplicate"} <= set(choices["statuses"])


BAD_FILTERS = [
    ("limit=0", "'limit'"), ("limit=201", "'limit'"), ("limit=ten", "'limit'"), ("limit=99999999999999999", "'limit'"),
    ("offset=-1", "'offset'"), ("offset=1000001", "'offset'"),
    ("since=nan", "'since'"), ("until=inf", "'until'"), ("since=1e999", "'since'"), ("since=yesterday", "'since'"),
    ("since=300&until=200", "'since'"), ("status=done", "'status'"), ("device=" + "d" * 129, "'device'"),
    ("class=" + "c" * 129, "'class'"), ("colour=red", "'colour'"), ("device=a&device=b", "'device'"),
]


def test_bad_filters_are_400s_naming_the_parameter(site):
    _, _, boss, _ = site
    for query, named in BAD_FILTERS:
        answer = boss.get(f"/api/frames?{query}")
        body = answer.json()
        assert (answer.status_code, body["error"]) == (400, "bad_request"), (query, body)
        assert named in body["detail"] and "\n" not in body["detail"], (query, body)


def test_admins_only(site):
    server, alice, _, _ = site
    assert alice.get("/api/frames").status_code == 403
    assert alice.get("/api/frames/choices").json()["error"] == "forbidden"
    assert httpx.get(f"{server.url}/api/frames").status_code == 401
    assert alice.get("/frames").status_code == 403
