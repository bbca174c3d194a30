"""Overlap reviews, adjudication and gold frames through the ReviewQueue on real ingested frames."""

import pytest

from edge.contract.wire import FrameHeader, Labels
from server.consistency import reviews as consistency
from server.consistency.reviews import ConsistencyPolicy
from server.consistency.summary import summary
from server.datadir import DataDir
from server.errors import ClaimError
from server.review.queue import ReviewQueue
from server.taxonomy import queries as taxonomy_queries
from tests.server._frames import PETS, clip_frames, encode

BOXES = ((10.0, 20.0, 60.0, 140.0), (100.0, 50.0, 150.0, 170.0))


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def header(seq: int, image) -> FrameHeader:
    height, width = image.shape[:2]
    return FrameHeader(
        device="cam", seq=seq, capture_ts=1000.0 + seq * 10, width=width, height=height, model_id="m",
        class_names=("person", "car"),
        labels=Labels(xyxy=BOXES, score=(0.9, 0.45), class_id=(0, 0), track_id=(-1, -1)),
        reasons=("scene_change",), priority=1.0 - seq / 10, phash="0" * 16,
    )


@pytest.fixture
def data_dir(tmp_path, backend):
    images = clip_frames(PETS, (0, 60, 120, 180, 240))
    with DataDir.open(tmp_path) as store:
        outcomes = store.ingest_frames([(header(seq, image), encode(image)) for seq, image in enumerate(images)])
    assert all(o.status == "pending" for o in outcomes)
    return tmp_path


def boxes_of(frame, *, change: dict | None = None, drop: int | None = None, add: dict | None = None) -> list[dict]:
    out = []
    for i, d in enumerate(frame["detections"]):
        if i == drop:
            continue
        item = {k: d[k] for k in ("x1", "y1", "x2", "y2", "class_name")} | {"detection_id": d["id"]}
        out.append(item | ((change or {}).get(i, {})))
    return out + ([add] if add else [])


def test_deterministic_overlap_selection():
    picked = [i for i in range(1, 2001) if consistency.is_overlap(i, 0.05)]
    assert picked == [i for i in range(1, 2001) if consistency.is_overlap(i, 0.05)]
    assert 60 <= len(picked) <= 140  # about 5%
    assert all(consistency.is_overlap(i, 1.0) for i in range(1, 50))
    assert not any(consistency.is_overlap(i, 0.0) for i in range(1, 50))


def test_two_blind_reviewers_agreement_and_adjudication(data_dir):
    policy = ConsistencyPolicy(overlap_rate=1.0, gold_rate=0.0, agreement_threshold=0.8)
    with ReviewQueue.open(data_dir, clock=Clock(), consistency_policy=policy) as queue:
        ids = [f["id"] for f in queue.next(limit=3)]
        # alice reviews three frames first: one as the model said, one with a class changed, one rejected
        first = [queue.claim("alice") for _ in range(3)]
        assert [f["id"] for f in first] == ids
        done = queue.submit("alice", ids[0], "accept")
        assert done["status"] == "accepted"
        queue.submit("alice", ids[1], "correct", boxes_of(first[1], change={1: {"class_name": "car"}}))
        queue.submit("alice", ids[2], "reject")
        for frame_id in ids:  # back in the queue, without alice's labels
            stored = queue.frame(frame_id)
            assert stored["status"] == "pending" and stored["annotations"] == []

        # alice never gets the second review of her own frames
        assert alice_cannot_claim(queue, ids)

        # bob gets them with the model's pre-labels only, and no trace of alice
        second = {}
        for _ in range(3):
            frame = queue.claim("bob")
            assert frame["id"] in ids and frame["annotations"] == []
            assert len(frame["detections"]) == 2 and all(e["user"] != "alice" for e in frame["events"])
            second[frame["id"]] = frame
        queue.submit("bob", ids[0], "accept")
        queue.submit("bob", ids[1], "accept")
        queue.submit("bob", ids[2], "correct",
                     boxes_of(second[ids[2]], add={"x1": 200.0, "y1": 100.0, "x2": 240.0, "y2": 200.0,
                                                   "class_name": "person"}))
        # the second review's labels are the frame's annotations; both reviews are kept
        assert queue.frame(ids[0])["status"] == "accepted" and len(queue.frame(ids[0])["annotations"]) == 2
        assert queue.frame(ids[2])["status"] == "corrected" and len(queue.frame(ids[2])["annotations"]) == 3
        with queue.read_transaction() as conn:
            kinds = [(r["reviewer"], r["kind"], r["verdict"]) for r in consistency.reviews_of(conn, ids[1])]
            assert kinds == [("alice", "first", "corrected"), ("bob", "second", "accepted")]
            open_ids = [a["frame_id"] for a in consistency.open_adjudications(conn)]
        assert open_ids == [ids[1], ids[2]]

        figures = summary(queue.db, queue.consistency)
        by_frame = {p["frame_id"]: p for p in figures["pairs"]}
        assert by_frame[ids[0]]["score"] == 1.0 and by_frame[ids[0]]["matches"] == 2
        assert (by_frame[ids[1]]["matches"], by_frame[ids[1]]["class_disagreements"]) == (1, 1)
        assert by_frame[ids[1]]["score"] == pytest.approx(0.5)
        assert (by_frame[ids[2]]["score"], by_frame[ids[2]]["verdict_agrees"], by_frame[ids[2]]["extra"]) == (0.0, False, 3)
        for name in ("alice", "bob"):
            reviewer = figures["per_reviewer"][name]
            assert reviewer["frames"] == 3 and reviewer["mean_score"] == pytest.approx(0.5)
            assert reviewer["frame_ids"] == sorted(ids) and reviewer["verdict_disagreements"] == 1
        person, car = figures["per_class"]["person"], figures["per_class"]["car"]
        assert (person["boxes_a"], person["boxes_b"], person["agreed"]) == (3, 7, 3)
        assert person["f1"] == pytest.approx(6 / 10) and person["frame_ids"] == sorted(ids)
        assert (car["boxes_a"], car["boxes_b"], car["f1"], car["frame_ids"]) == (1, 0, 0.0, [ids[1]])
        assert figures["open_adjudications"] == [ids[1], ids[2]]
        assert summary(queue.db, queue.consistency, since=queue.clock.now + 10)["pairs"] == []

        # the admin decides frame 2: alice was right, the second box is a car
        with queue.read_transaction() as conn:
            detections = taxonomy_queries.detections_of(conn, ids[1])
        status = queue.adjudicate("boss", ids[1], "correct",
                                  boxes_of({"detections": detections}, change={1: {"class_name": "car"}}))
        assert status == "corrected"
        adjudicated = queue.frame(ids[1])
        assert adjudicated["status"] == "corrected"
        assert [(a["class_name"], a["author"]) for a in adjudicated["annotations"]] == [("person", "boss"), ("car", "boss")]
        assert adjudicated["events"][-1]["action"] == "adjudicate"
        with queue.read_transaction() as conn:
            assert [a["frame_id"] for a in consistency.open_adjudications(conn)] == [ids[2]]
            assert consistency.adjudication(conn, ids[1])["state"] == "resolved"
        with pytest.raises(ClaimError):
            queue.adjudicate("boss", ids[1], "accept")


def alice_cannot_claim(queue, ids) -> bool:
    assert not {f["id"] for f in queue.next(limit=10, user="alice")} & set(ids)
    for frame_id in ids:
        with pytest.raises(ClaimError):
            queue.claim("alice", frame_id)
    others = []
    while (frame := queue.claim("alice")) is not None:  # she gets only the frames nobody reviewed yet
        others.append(frame["id"])
        queue.release("alice", frame["id"])
        break
    return not set(others) & set(ids)


def test_overlap_rate_zero_leaves_the_queue_as_it_was(data_dir):
    with ReviewQueue.open(data_dir, clock=Clock()) as queue:  # no policy: no overlap, no gold
        frame = queue.claim("alice")
        assert queue.submit("alice", frame["id"], "accept")["status"] == "accepted"
        with queue.read_transaction() as conn:
            assert consistency.reviews_of(conn, frame["id"]) == []


def test_gold_frames_are_served_blind_and_scored(data_dir):
    policy = ConsistencyPolicy(overlap_rate=0.0, gold_rate=1.0)
    with ReviewQueue.open(data_dir, clock=Clock(), consistency_policy=policy) as queue:
        frame = queue.claim("alice")
        gold_id = frame["id"]
        queue.submit("alice", gold_id, "accept")
        with queue.write_transaction() as (conn, now):
            gold = consistency.mark_gold(conn, "boss", gold_id, now)
        assert gold["verdict"] == "accepted" and len(gold["labels"]) == 2
        verified = queue.frame(gold_id)

        served = queue.claim("bob")  # looks like any claimed frame
        assert served["id"] == gold_id and served["status"] == "in_review" and served["claimed_by"] == "bob"
        assert served["annotations"] == [] and served["events"] == []
        assert queue.frame(gold_id, viewer="bob")["status"] == "in_review"
        renewed = queue.renew("bob", gold_id)
        assert renewed["lease_expires_at"] > served["lease_expires_at"]
        answer = queue.submit("bob", gold_id, "correct",
                              boxes_of(served, change={1: {"x1": 200.0, "x2": 250.0}}))
        assert answer["status"] == "corrected" and len(answer["annotations"]) == 2
        assert queue.frame(gold_id) == verified  # the gold frame's own labels did not change

        # not served again to bob, nor ever to alice (she verified it): they get ordinary frames
        assert queue.claim("bob")["id"] != gold_id
        assert queue.claim("alice")["id"] != gold_id

        # carol releases it: it may come back to her later
        assert queue.claim("carol")["id"] == gold_id
        queue.release("carol", gold_id)
        assert queue.frame(gold_id) == verified
        assert queue.claim("carol")["id"] == gold_id
        queue.submit("carol", gold_id, "accept")

        figures = summary(queue.db, queue.consistency)["gold_per_reviewer"]
        assert set(figures) == {"bob", "carol"}
        assert figures["bob"]["mean_score"] == pytest.approx(2 * 1 / 4)
        assert (figures["bob"]["matches"], figures["bob"]["missed"], figures["bob"]["extra"]) == (1, 1, 1)
        assert figures["carol"]["mean_score"] == 1.0 and figures["carol"]["frame_ids"] == [gold_id]


def test_only_verified_frames_can_be_gold(data_dir):
    with ReviewQueue.open(data_dir, clock=Clock()) as queue:
        frame_id = queue.next(limit=1)[0]["id"]
        with pytest.raises(ClaimError), queue.write_transaction() as (conn, now):
            consistency.mark_gold(conn, "boss", frame_id, now)


def test_exports_hold_back_frames_whose_reviewers_disagree_until_an_admin_decides(data_dir, tmp_path):
    from server.exports import Selection, export

    policy = ConsistencyPolicy(overlap_rate=1.0, gold_rate=0.0, agreement_threshold=0.8)
    with ReviewQueue.open(data_dir, clock=Clock(), consistency_policy=policy) as queue:
        first = [queue.claim("alice") for _ in range(2)]
        queue.submit("alice", first[0]["id"], "accept")
        queue.submit("alice", first[1]["id"], "correct", boxes_of(first[1], change={1: {"class_name": "car"}}))
        for _ in range(2):
            frame = queue.claim("bob")
            queue.submit("bob", frame["id"], "accept")  # agrees on the first frame, not on the second
        undecided = first[1]["id"]
        with queue.read_transaction() as conn:
            assert [a["frame_id"] for a in consistency.open_adjudications(conn)] == [undecided]

        with DataDir.open_readonly(data_dir) as store:
            held = export(store, "coco", tmp_path / "held", Selection(status="verified"))
        assert (held.frames, held.held_back) == (1, 1)
        assert any("1 frame(s) held back" in note for note in held.notes)

        with queue.read_transaction() as conn:
            detections = taxonomy_queries.detections_of(conn, undecided)
        queue.adjudicate("boss", undecided, "correct", boxes_of({"detections": detections},
                                                                change={1: {"class_name": "car"}}))
    with DataDir.open_readonly(data_dir) as store:
        decided = export(store, "coco", tmp_path / "decided", Selection(status="verified"))
    assert (decided.frames, decided.held_back, decided.notes) == (2, 0, [])
