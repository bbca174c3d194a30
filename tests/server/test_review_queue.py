"""The review queue on a real database: order, atomic claims under concurrency, leases, submissions."""

import threading

import pytest

from edge.contract.wire import FrameHeader, Labels
from server.datadir import DataDir
from server.errors import ClaimError, FrameNotFoundError, StoreError, SubmissionError
from server.review.queue import ReviewQueue
from tests.server._frames import PARKING, PETS, clip_frames, encode

FRAME_INDICES = tuple(range(0, 400, 20))  # 20 different PETS frames (people walk on between them)


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def header(seq: int, image, priority: float, boxes: int = 1) -> FrameHeader:
    height, width = image.shape[:2]
    return FrameHeader(
        device="cam", seq=seq, capture_ts=1000.0 + seq * 10, width=width, height=height, model_id="m",
        class_names=("person", "car"),
        labels=Labels(xyxy=((10.0, 20.0, 60.0, 140.0), (100.0, 50.0, 150.0, 170.0))[:boxes],
                      score=(0.9, 0.45)[:boxes], class_id=(0, 0)[:boxes], track_id=(1, -1)[:boxes]),
        reasons=("scene_change",), priority=priority, phash="0" * 16,
    )


@pytest.fixture
def open_queue(database):
    """ReviewQueue.open on the backend under test."""
    return lambda data_dir, **options: ReviewQueue.open(data_dir, database=database, **options)


@pytest.fixture
def data_dir(tmp_path, database):
    images = clip_frames(PETS, FRAME_INDICES)
    with DataDir.open(tmp_path, database=database) as store:
        outcomes = store.ingest_frames([(header(seq, image, priority=seq / 40, boxes=2), encode(image))
                                        for seq, image in enumerate(images)])
    assert all(o.status == "pending" for o in outcomes)
    return tmp_path


def test_claims_follow_the_priority_order(data_dir, open_queue):
    with open_queue(data_dir) as queue:
        expected = [f["id"] for f in queue.next(limit=20)]
        priorities = [f["review_priority"] for f in queue.next(limit=20)]
        assert priorities == sorted(priorities, reverse=True) and len(expected) == 20
        claimed = [queue.claim("alice")["id"] for _ in range(20)]
        assert claimed == expected
        assert queue.claim("alice") is None


def test_concurrent_claims_never_hand_out_the_same_frame(data_dir, open_queue):
    claims: dict[str, list[int]] = {}
    errors = []

    def reviewer(name: str, shared: ReviewQueue | None) -> None:
        queue = shared or open_queue(data_dir)
        mine = claims.setdefault(name, [])
        try:
            while (frame := queue.claim(name)) is not None:
                mine.append(frame["id"])
        except Exception as exc:  # reported below; a thread must not swallow it
            errors.append(exc)
        finally:
            if shared is None:
                queue.close()

    shared = open_queue(data_dir)
    threads = [threading.Thread(target=reviewer, args=(f"own-{i}", None)) for i in range(4)]
    threads += [threading.Thread(target=reviewer, args=(f"shared-{i}", shared)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    shared.close()
    assert not errors
    every_claim = [frame_id for ids in claims.values() for frame_id in ids]
    assert len(every_claim) == len(set(every_claim)) == 20
    with open_queue(data_dir) as queue:
        assert queue.counts() == {"in_review": 20}
        holders = {f["id"]: f["claimed_by"] for f in map(queue.frame, every_claim)}
    assert all(holders[frame_id] == name for name, ids in claims.items() for frame_id in ids)


def test_an_expired_lease_returns_the_frame_to_the_queue(data_dir, open_queue):
    clock = Clock()
    with open_queue(data_dir, lease_seconds=60, clock=clock) as queue:
        first = queue.claim("alice")
        assert first["lease_expires_at"] == clock.now + 60
        clock.now += 30
        assert queue.claim("bob")["id"] != first["id"]  # still alice's
        clock.now += 31
        again = queue.claim("bob")
        assert again["id"] == first["id"] and again["claimed_by"] == "bob"
        with pytest.raises(ClaimError, match="not claimed by 'alice'"):
            queue.submit("alice", first["id"], "accept")
        actions = [(e["user"], e["action"]) for e in queue.frame(first["id"])["events"]]
        assert actions == [("alice", "claim"), ("collector", "lease_expired"), ("bob", "claim")]


def test_renew_keeps_a_lease_and_an_expired_one_cannot_be_used(data_dir, open_queue):
    clock = Clock()
    with open_queue(data_dir, lease_seconds=60, clock=clock) as queue:
        frame = queue.claim("alice")
        clock.now += 50
        assert queue.renew("alice", frame["id"])["lease_expires_at"] == clock.now + 60
        clock.now += 61
        with pytest.raises(ClaimError, match="expired"):
            queue.submit("alice", frame["id"], "accept")


def test_accept_copies_the_model_boxes_as_annotations(data_dir, open_queue):
    with open_queue(data_dir) as queue:
        frame = queue.claim("alice")
        done = queue.submit("alice", frame["id"], "accept")
    assert done["status"] == "accepted" and done["claimed_by"] is None
    assert [(a["source"], a["detection_id"], a["author"]) for a in done["annotations"]] == [
        ("model", d["id"], "alice") for d in frame["detections"]]
    assert [(e["action"], e["details"].get("status")) for e in done["events"]][-1] == ("accept", "accepted")


def test_corrections_keep_unchanged_boxes_as_the_models(data_dir, open_queue):
    with open_queue(data_dir) as queue:
        frame = queue.claim("alice")
        kept, moved = frame["detections"]
        boxes = [
            {k: kept[k] for k in ("x1", "y1", "x2", "y2", "class_name", "track_id")} | {"detection_id": kept["id"]},
            {"x1": moved["x1"] + 5, "y1": moved["y1"], "x2": moved["x2"], "y2": moved["y2"], "class_name": "person",
             "detection_id": moved["id"]},
            {"x1": 300, "y1": 200, "x2": 340, "y2": 300, "class_name": "bicycle"},
        ]
        done = queue.submit("alice", frame["id"], "correct", boxes, comment="moved one, added a bike")
        assert done["status"] == "corrected"
        assert [a["source"] for a in done["annotations"]] == ["model", "human", "human"]
        # A "correction" that changes nothing is an acceptance.
        other = queue.claim("bob")
        same = [{k: d[k] for k in ("x1", "y1", "x2", "y2", "class_name", "track_id")} | {"detection_id": d["id"]}
                for d in other["detections"]]
        assert queue.submit("bob", other["id"], "correct", same)["status"] == "accepted"


def test_reject_and_release(data_dir, open_queue):
    with open_queue(data_dir) as queue:
        frame = queue.claim("alice")
        queue.release("alice", frame["id"])
        assert queue.frame(frame["id"])["status"] == "pending"
        frame = queue.claim("alice", frame_id=frame["id"])
        done = queue.submit("alice", frame["id"], "reject", comment="lens covered")
        assert (done["status"], done["annotations"]) == ("rejected", [])
        with pytest.raises(ClaimError, match="rejected, not pending"):
            queue.claim("bob", frame_id=frame["id"])


@pytest.mark.parametrize("boxes, message", [
    ([{"x1": 10, "y1": 10, "x2": 5, "y2": 20, "class_name": "person"}], "empty or outside"),
    ([{"x1": 0, "y1": 0, "x2": 9999, "y2": 20, "class_name": "person"}], "outside"),
    ([{"x1": 0, "y1": 0, "x2": 10, "y2": 20, "class_name": ""}], "class_name"),
    ([{"x1": 0, "y1": 0, "x2": 10, "y2": 20, "class_name": "person", "detection_id": 99999}], "not one of this frame"),
    ([{"x1": float("nan"), "y1": 0, "x2": 10, "y2": 20, "class_name": "person"}], "finite"),
    ([{"x1": 0, "y1": 0, "x2": 10, "y2": 20, "class_name": "person", "colour": "red"}], "unknown fields"),
    ("boxes", "must be a list"),
])
def test_bad_corrections_are_refused_and_change_nothing(data_dir, boxes, message, open_queue):
    with open_queue(data_dir) as queue:
        frame = queue.claim("alice")
        with pytest.raises(SubmissionError, match=message):
            queue.submit("alice", frame["id"], "correct", boxes)
        assert queue.frame(frame["id"])["status"] == "in_review"
        assert queue.frame(frame["id"])["annotations"] == []


def test_unknown_frames_and_decisions(data_dir, open_queue):
    with open_queue(data_dir) as queue:
        with pytest.raises(FrameNotFoundError):
            queue.frame(12345)
        with pytest.raises(FrameNotFoundError):
            queue.claim("alice", frame_id=12345)
        frame = queue.claim("alice")
        with pytest.raises(SubmissionError, match="decision"):
            queue.submit("alice", frame["id"], "maybe")


def test_duplicates_are_never_queued(tmp_path, open_queue, database):
    image = clip_frames(PARKING, (0,))[0]
    with DataDir.open(tmp_path, database=database) as store:
        first, copy = store.ingest_frames([(header(1, image, 0.1), encode(image, 90)),
                                           (header(2, image, 0.9), encode(image, 60))])
    assert copy.status == "duplicate"
    with open_queue(tmp_path) as queue:
        assert [f["id"] for f in queue.next()] == [first.frame_id]
        assert queue.claim("alice")["id"] == first.frame_id and queue.claim("alice") is None
        with pytest.raises(ClaimError, match="duplicate"):
            queue.claim("alice", frame_id=copy.frame_id)


def test_the_queue_needs_a_current_database(tmp_path):
    with pytest.raises(StoreError, match="no edgelabel database"):
        ReviewQueue.open(tmp_path)
