"""Synthetic annotation on a real fixed camera: PETS09 frames, boxes from the real detector, accepted by a reviewer."""

import json
import shutil
import sqlite3
from functools import lru_cache

import cv2
import numpy as np
import pytest

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import FrameHeader, Labels
from edge.detection.runner import Detector
from server.cli import main as collector_main
from server.datadir import DataDir
from server.db import open_database
from server.exports import Selection, export
from server.exports.coco import ANNOTATIONS_FILE as COCO_JSON
from server.media import MediaStore
from server.review.queue import ReviewQueue
from server.synthetic import background as background_module
from server.synthetic.composite import Placement, composite
from server.synthetic.generate import SynthesisSettings, generate
from server.synthetic.pipeline import prepare, synthesize
from server.synthetic.placement import JITTER_X, JITTER_Y
from server.synthetic.source_frames import verified_frames
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.model import ClassSpec, Taxonomy
from tests.conftest import MODEL_PATH
from tests.server._frames import PETS, clip_frames, encode

DEVICE = "pets09"
INDICES = tuple(range(0, 795, 20))  # 40 frames, 2 s apart: people move, the camera does not


@lru_cache(maxsize=None)
def detected_frames():
    """(image, person boxes) of the clip's frames, detected once per session by the real model."""
    detector = Detector(MODEL_PATH, score_threshold=0.4)
    person = detector.class_names.index("person")
    frames = []
    for image in clip_frames(PETS, INDICES):
        detections = detector.detect(image)
        keep = detections.class_id == person
        frames.append((image, detections.xyxy[keep].astype(float), detections.confidence[keep].astype(float)))
    return detector.model_id, detector.class_names, frames


def ingest_and_accept(data_dir, device, frames, model_id, class_names, first_seq=0):
    batch = []
    for offset, (image, xyxy, scores) in enumerate(frames):
        height, width = image.shape[:2]
        labels = Labels(xyxy=tuple(tuple(b) for b in xyxy), score=tuple(scores), class_id=(0,) * len(xyxy),
                        track_id=(-1,) * len(xyxy))
        seq = first_seq + offset
        batch.append((FrameHeader(device=device, seq=seq, capture_ts=1.0e9 + seq, width=width, height=height,
                                  model_id=model_id, class_names=class_names, labels=labels, reasons=("test",),
                                  phash=phash_hex(phash64(image)), frame_index=seq), encode(image, 90)))
    with DataDir.open(data_dir) as store:
        store.ingest_frames(batch)
    with ReviewQueue.open(data_dir) as queue:
        for frame in queue.next(limit=1000):
            if frame["device"] == device:
                queue.claim("alice", frame["id"])
                queue.submit("alice", frame["id"], "accept")


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """A data dir with the PETS09 frames accepted, and one synthesis run of 12 frames in it."""
    data_dir = tmp_path_factory.mktemp("synthetic")
    model_id, class_names, frames = detected_frames()
    ingest_and_accept(data_dir, DEVICE, frames, model_id, class_names)
    result = synthesize(data_dir, DEVICE, SynthesisSettings(count=12, classes=("person",), min_objects=2,
                                                            max_objects=4), seed=3)
    return data_dir, result


def rows(data_dir, sql, params=()):
    conn = sqlite3.connect(data_dir / "edgelabel.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def decoded(data_dir, sha256):
    return cv2.imread(str(MediaStore(data_dir / "media").path_for(sha256)))


def test_background_has_the_people_removed(camera):
    data_dir, result = camera
    background = result.background.image
    model_id, _, frames = detected_frames()
    # A patch inside a person in one frame: the background there is the median of the frames where no
    # (grown) box covers it, and no longer the person.
    checked = 0
    for image, xyxy, _ in frames:
        for x1, y1, x2, y2 in xyxy:
            if y2 - y1 < 40:
                continue
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            patch = (slice(cy - 2, cy + 3), slice(cx - 2, cx + 3))
            free = [other for other, boxes, _ in frames
                    if not any(bx1 - 0.1 * (bx2 - bx1) - 3 <= cx <= bx2 + 0.1 * (bx2 - bx1) + 3
                               and by1 - 0.1 * (by2 - by1) - 3 <= cy <= by2 + 0.1 * (by2 - by1) + 3
                               for bx1, by1, bx2, by2 in boxes)]
            assert len(free) >= 5
            expected = np.median(np.stack([f[patch] for f in free]).astype(float), axis=0)
            assert np.abs(background[patch].astype(float) - expected).mean() < 3.0
            assert np.abs(image[patch].astype(float) - background[patch]).max() > 30  # the person differed
            checked += 1
            if checked == 6:
                break
        if checked == 6:
            break
    assert checked == 6
    stored = rows(data_dir, "SELECT frame_ids, eligible_frames, uncovered_fraction FROM device_backgrounds "
                            "WHERE device = ?", [DEVICE])
    assert len(stored) == 1 and len(json.loads(stored[0][0])) == stored[0][1] == len(INDICES)
    assert stored[0][2] < 0.01  # the camera is busy, but every pixel is free in some frames


def test_background_follows_the_newest_verified_frames(camera, monkeypatch):
    data_dir, _ = camera
    monkeypatch.setattr(background_module, "RECENT_FRAMES", 10)  # instead of a camera's months of frames
    with open_database(data_dir, "current") as db, db.read() as conn:
        frames = verified_frames(conn, DEVICE)
    recent = background_module.estimate(DEVICE, frames, MediaStore(data_dir / "media"))
    assert len(frames) > 10 and recent.eligible_frames == len(frames)
    assert recent.frame_ids == tuple(frame.frame_id for frame in frames[-10:])


def test_bank_records_mask_kinds_and_rejects_unusable_objects(camera):
    _, result = camera
    assert result.bank_objects["person"] >= 50
    assert result.bank_mask_kinds.get("foreground", 0) > 0.8 * result.bank_objects["person"]
    assert {"person/truncated", "person/too_small"} <= set(result.bank_rejected)


def test_boxes_are_exactly_the_pasted_objects(camera):
    data_dir, result = camera
    media = MediaStore(data_dir / "media")
    with open_database(data_dir, "current") as db:
        _, background, bank, models = prepare(db, media, DEVICE, ("person",))
    # Alone on a black canvas, without colour matching: every changed pixel belongs to the object.
    black = np.zeros_like(background.image)
    settings = SynthesisSettings(count=15, classes=("person",), min_objects=1, max_objects=1, colour_match=False)
    for frame in generate(black, bank, models, settings, np.random.default_rng(11)):
        (pasted,) = frame.objects
        rows_, cols = np.nonzero(frame.image.any(axis=2))
        assert pasted.xyxy == (cols.min(), rows_.min(), cols.max() + 1, rows_.max() + 1)
    # On the real background, with several objects: nothing outside the boxes changed, every box changed.
    settings = SynthesisSettings(count=10, classes=("person",), min_objects=3, max_objects=4)
    for frame in generate(background.image, bank, models, settings, np.random.default_rng(12)):
        changed = (frame.image != background.image).any(axis=2)
        inside = np.zeros_like(changed)
        for pasted in frame.objects:
            x1, y1, x2, y2 = (int(v) for v in pasted.xyxy)
            inside[y1:y2, x1:x2] = True
            assert changed[y1:y2, x1:x2].any()
            assert 0.0 <= pasted.occluded_fraction <= 1.0
        assert not (changed & ~inside).any()
    # The stored boxes are the ones the composite measured: same recipe, same pixels.
    frame_id = result.frame_ids[0]
    (recipe,) = rows(data_dir, "SELECT recipe FROM synthetic_frames WHERE frame_id = ?", [frame_id])[0]
    stored = rows(data_dir, "SELECT x1, y1, x2, y2, source_annotation_id FROM synthetic_objects "
                            "WHERE frame_id = ? ORDER BY id", [frame_id])
    assert [r[4] for r in stored] == [o["source_annotation_id"] for o in json.loads(recipe)["objects"]]
    (sha256,) = rows(data_dir, "SELECT media_sha256 FROM frames WHERE id = ?", [frame_id])[0]
    changed = np.abs(decoded(data_dir, sha256).astype(int) - background.image).max(axis=2) > 40
    outside = np.ones_like(changed)
    for x1, y1, x2, y2, _ in stored:
        outside[max(0, int(y1) - 4):int(y2) + 4, max(0, int(x1) - 4):int(x2) + 4] = False
    assert not (changed & outside).any()  # JPEG ringing stays within 4 px of the boxes


def test_objects_appear_only_where_the_class_appeared(camera):
    data_dir, result = camera
    observed = np.array([((x1 + x2) / 2, y2) for x1, y2, x2 in rows(
        data_dir, "SELECT a.x1, a.y2, a.x2 FROM annotations a JOIN frames f ON f.id = a.frame_id "
                  "WHERE f.device = ? AND a.class_name = 'person'", [DEVICE])])
    count = 0
    for recipe_json, in rows(data_dir, "SELECT recipe FROM synthetic_frames"):
        for obj in json.loads(recipe_json)["objects"]:
            x, y = obj["anchor"]
            left, top, width, height = obj["placed_ltwh"]
            near = (np.abs(observed[:, 0] - x) <= JITTER_X * height * 1.2 + 1) & (
                np.abs(observed[:, 1] - y) <= JITTER_Y * height * 1.2 + 1)
            assert near.any(), f"object at {x:.0f},{y:.0f} is nowhere near an observed person"
            assert abs(top + height - y) <= 1 and abs(left + width / 2 - x) <= 1
            count += 1
    boxes = rows(data_dir, "SELECT s.x1, s.y1, s.x2, s.y2, f.recipe FROM synthetic_objects s "
                           "JOIN synthetic_frames f ON f.frame_id = s.frame_id")
    for x1, y1, x2, y2, recipe_json in boxes:  # each box lies inside the rectangle its object was placed in
        assert any(left <= x1 and top <= y1 and x2 <= left + w and y2 <= top + h
                   for left, top, w, h in (o["placed_ltwh"] for o in json.loads(recipe_json)["objects"]))
    assert count == len(boxes) == result.objects >= 24


def test_synthetic_frames_stay_out_of_the_queue_the_dedup_index_and_default_exports(camera, tmp_path):
    data_dir, result = camera
    statuses = dict(rows(data_dir, "SELECT id, status FROM frames WHERE id IN (%s)" % ",".join(
        str(i) for i in result.frame_ids)))
    assert set(statuses.values()) == {"synthetic"} and len(statuses) == 12
    assert all(seq < 0 for (seq,) in rows(data_dir, "SELECT seq FROM frames WHERE status = 'synthetic'"))
    with ReviewQueue.open(data_dir) as queue:
        assert not [f for f in queue.next(limit=1000) if f["id"] in statuses]
    with DataDir.open(data_dir) as store:
        store.prepare_ingest()  # signs unsigned frames: not the synthetic ones
        assert store.stats()["frames_by_status"]["synthetic"] >= 12
    assert not rows(data_dir, "SELECT frame_id FROM frame_signatures WHERE frame_id IN (SELECT frame_id FROM "
                              "synthetic_frames)")
    with DataDir.open_readonly(data_dir) as store:
        for status in ("verified", "all"):
            summary = export(store, "coco", tmp_path / f"plain-{status}", Selection(status=status))
            assert summary.synthetic_frames == 0 and summary.frames == len(INDICES)
            assert not (tmp_path / f"plain-{status}" / "synthetic").exists()
        summary = export(store, "yolo", tmp_path / "yolo", Selection(include_synthetic=True))
        assert summary.written["synthetic"] == summary.synthetic_frames == 12
        assert summary.written["train"] + summary.written["val"] == len(INDICES)
        assert len(list((tmp_path / "yolo" / "images" / "synthetic").glob("*.jpg"))) == 12
        assert "synthetic: images/synthetic" in (tmp_path / "yolo" / "data.yaml").read_text()
        for fmt in ("coco", "voc", "cvat", "mot", "labelstudio"):
            export(store, fmt, tmp_path / fmt, Selection(include_synthetic=True))
            assert (tmp_path / fmt / ("images" if fmt == "coco" else "") / "synthetic").is_dir()
    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_synthetic.json").read_text())
    assert sorted(image["id"] for image in coco["images"]) == sorted(result.frame_ids)
    assert all(image["synthetic"] for image in coco["images"])
    expected = sorted((fid, round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)) for fid, x1, y1, x2, y2
                      in rows(data_dir, "SELECT frame_id, x1, y1, x2, y2 FROM synthetic_objects"))
    assert sorted((a["image_id"], *a["bbox"]) for a in coco["annotations"]) == expected
    real = json.loads((tmp_path / "coco" / COCO_JSON).read_text())
    assert not set(result.frame_ids) & {image["id"] for image in real["images"]}


def test_review_option_queues_the_frames_with_their_constructed_boxes(camera, tmp_path):
    data_dir = tmp_path / "copy"
    shutil.copytree(camera[0], data_dir)
    result = synthesize(data_dir, DEVICE, SynthesisSettings(count=2, classes=("person",)), seed=5, review=True)
    with ReviewQueue.open(data_dir) as queue:
        queued = {f["id"]: f for f in queue.next(limit=1000)}
    for frame_id in result.frame_ids:
        boxes = sorted(tuple(d[k] for k in ("x1", "y1", "x2", "y2")) for d in queued[frame_id]["detections"])
        assert boxes == sorted(rows(data_dir, "SELECT x1, y1, x2, y2 FROM synthetic_objects WHERE frame_id = ?",
                                    [frame_id]))
        assert queued[frame_id]["reasons"] == ["synthetic"]


def test_background_is_recomputed_when_new_frames_were_verified(camera, tmp_path):
    data_dir = tmp_path / "copy"
    shutil.copytree(camera[0], data_dir)
    model_id, class_names, frames = detected_frames()
    before = rows(data_dir, "SELECT media_sha256, eligible_frames FROM device_backgrounds")[0]
    synthesize(data_dir, DEVICE, SynthesisSettings(count=1, classes=("person",)), seed=1)
    assert rows(data_dir, "SELECT media_sha256, eligible_frames FROM device_backgrounds")[0] == before  # fresh: kept
    extra = clip_frames(PETS, (5, 15))
    ingest_and_accept(data_dir, DEVICE, [(image, frames[0][1][:0], frames[0][2][:0]) for image in extra],
                      model_id, class_names, first_seq=1000)
    synthesize(data_dir, DEVICE, SynthesisSettings(count=1, classes=("person",)), seed=1)
    (sha256, eligible), = rows(data_dir, "SELECT media_sha256, eligible_frames FROM device_backgrounds")
    accepted = rows(data_dir, "SELECT COUNT(*) FROM frames WHERE device = ? AND status = 'accepted'", [DEVICE])[0][0]
    assert accepted > before[1] and eligible == accepted and sha256 != before[0]  # (one extra may be a duplicate)


def test_cli_explains_what_is_missing(camera, tmp_path, capsys):
    data_dir, _ = camera
    common = ["synthesize", "--data-dir", str(data_dir), "--count", "2"]
    assert collector_main([*common, "--device", "cam-nowhere", "--classes", "person"]) == 2
    assert "unknown device 'cam-nowhere'" in capsys.readouterr().err
    assert collector_main([*common, "--device", DEVICE, "--classes", "person,giraffe"]) == 2
    assert "'giraffe' was never verified on 'pets09'" in capsys.readouterr().err
    sparse = tmp_path / "sparse"
    model_id, class_names, frames = detected_frames()
    ingest_and_accept(sparse, "cam-sparse", frames[:3], model_id, class_names)
    assert collector_main(["synthesize", "--data-dir", str(sparse), "--count", "2", "--device", "cam-sparse",
                           "--classes", "person"]) == 2
    assert "needs at least 5" in capsys.readouterr().err
    assert collector_main(["synthesize", "--data-dir", str(tmp_path / "none"), "--count", "2", "--device", "x",
                           "--classes", "person"]) == 2
    assert "no collector data directory at" in capsys.readouterr().err


def test_cli_writes_frames_and_a_report(camera, tmp_path, capsys):
    data_dir = tmp_path / "copy"
    shutil.copytree(camera[0], data_dir)
    report = tmp_path / "report" / "pets.html"
    assert collector_main(["synthesize", "--data-dir", str(data_dir), "--device", DEVICE, "--classes", "person",
                           "--count", "3", "--objects-per-frame", "2", "--seed", "9", "--no-progress", "--json",
                           "--report", str(report)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 3 and summary["objects"] == 6
    page = report.read_text()
    assert page.count("<figure>") == 3 + 8 + 1 and "Real verified frames" in page
    header = page.split("<h2>")[0]  # the summary at the top reads as words, not Python's reprs
    assert "{" not in header.split("</style>")[1] and "[" not in header and "<li>objects: 6</li>" in header
    sheet = cv2.imread(str(report.with_suffix(".png")))
    assert sheet.shape[1] == 4 * 320 and sheet.shape[0] > 3 * 200


def test_exact_boxes_survive_clipping_at_the_image_border(camera):
    # composite() clips a placement that reaches outside the image; the box is the visible extent.
    data_dir, _ = camera
    with open_database(data_dir, "current") as db:
        _, background, bank, _ = prepare(db, MediaStore(data_dir / "media"), DEVICE, ("person",))
    obj = bank.of_class("person")[0]
    height, width = obj.pixels.shape[:2]
    black = np.zeros_like(background.image)
    image, (pasted,) = composite(black, [Placement(obj, -width // 2, 10, width, height)], colour_match=False)
    rows_, cols = np.nonzero(image.any(axis=2))
    assert pasted.xyxy == (0.0, rows_.min(), cols.max() + 1, rows_.max() + 1)


def test_a_class_may_be_asked_for_by_its_alias(camera, tmp_path):
    data_dir = tmp_path / "copy"
    shutil.copytree(camera[0], data_dir)
    with ReviewQueue.open(data_dir) as queue, queue.write_transaction() as (conn, now):
        taxonomy_queries.save(conn, Taxonomy((ClassSpec("person", aliases=("walker",)),)), "boss", now)
    result = synthesize(data_dir, DEVICE, SynthesisSettings(count=2, classes=("Walker",)), seed=1)
    assert set(result.objects_by_class) == {"person"}
