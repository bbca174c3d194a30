"""Every export format written from real reviewed data and read back by a real consumer where one exists."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sqlite_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from edge.contract.motfile import read_mot_file
from edge.evaluation.mot import evaluate_mot
from server.datadir import DataDir
from server.exports import ExportError, ExportOptions, Selection, export
from server.exports.coco import ANNOTATIONS_FILE as COCO_JSON
from server.exports.coco import IMAGES_DIR as COCO_IMAGES
from server.exports.naming import kept_where_unique, safe_name
from server.importers import read_dataset, read_folder
from server.importers.folders import path_seq
from server.importers.importer import import_dataset
from tests.server._datasets import COCO_DEVICE, TUD, TUD_DEVICE, build_labeled_store
from tests.server._paths import IMAGES_DIR


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("labeled")
    decisions = build_labeled_store(data_dir)
    return data_dir, decisions


def run_export(data_dir, fmt, out, **selection):
    options = selection.pop("options", None)
    with DataDir.open_readonly(data_dir) as store:
        return export(store, fmt, out, Selection(**selection), options)


def stored_statuses(data_dir):
    with DataDir.open_readonly(data_dir) as store:
        return {row["id"]: row["status"] for row in store.frame_rows()}


def test_coco_export_loads_in_pycocotools_and_scores_ap_1_against_itself(labeled, tmp_path):
    data_dir, decisions = labeled
    summary = run_export(data_dir, "coco", tmp_path / "coco", status="verified")
    verified_tud = len(decisions["accepted"]) + len(decisions["corrected"])
    assert summary.frames == 32 + verified_tud == summary.verified_frames and summary.prelabeled_frames == 0
    gt = COCO(str(tmp_path / "coco" / COCO_JSON))
    assert len(gt.getImgIds()) == summary.frames and len(gt.getAnnIds()) == summary.boxes == 284 + sum(
        len(gt.getAnnIds(imgIds=[i])) for i in decisions["accepted"] + decisions["corrected"])
    for image in gt.loadImgs(gt.getImgIds()):
        assert (tmp_path / "coco" / COCO_IMAGES / image["file_name"]).is_file()
    detections = [{**a, "score": 1.0} for a in gt.loadAnns(gt.getAnnIds())]
    evaluation = COCOeval(gt, gt.loadRes(detections), "bbox")
    evaluation.evaluate(), evaluation.accumulate(), evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0) and evaluation.stats[1] == pytest.approx(1.0)
    tud_annotations = [a for a in gt.loadAnns(gt.getAnnIds()) if a["image_id"] in decisions["accepted"]]
    assert tud_annotations and all("track_id" in a for a in tud_annotations)
    assert all(a["iscrowd"] == 0 and a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3], abs=0.01)
               for a in gt.loadAnns(gt.getAnnIds()))


def test_coco_export_keeps_the_original_coco_boxes(labeled, tmp_path):
    data_dir, _ = labeled
    run_export(data_dir, "coco", tmp_path / "coco", devices=(COCO_DEVICE,))
    exported = json.loads((tmp_path / "coco" / COCO_JSON).read_text())
    original = COCO(str(TUD.parent.parent / "coco" / "annotations" / "instances_train2017.json"))
    names = {c["id"]: c["name"] for c in exported["categories"]}
    by_seq = {image["seq"]: image["id"] for image in exported["images"]}
    for image_id in original.getImgIds()[:8]:
        expected = sorted((original.cats[a["category_id"]]["name"], *np.round(a["bbox"], 2))
                          for a in original.loadAnns(original.getAnnIds(imgIds=[image_id], iscrowd=False)))
        got = sorted((names[a["category_id"]], *a["bbox"]) for a in exported["annotations"]
                     if a["image_id"] == by_seq[image_id])
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g[0] == e[0] and np.allclose(g[1:], e[1:], atol=0.011)


def test_status_all_adds_prelabels_and_leaves_out_rejected_and_duplicates(labeled, tmp_path):
    data_dir, decisions = labeled
    summary = run_export(data_dir, "labelstudio", tmp_path / "ls", status="all")
    statuses = stored_statuses(data_dir)
    expected = {i for i, s in statuses.items() if s not in ("duplicate", "rejected")}
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert {t["id"] for t in tasks} == expected and decisions["rejected"][0] not in expected
    assert "duplicate" in statuses.values()
    for task in tasks:
        verified = statuses[task["id"]] in ("accepted", "corrected")
        assert ("annotations" in task) == verified and ("predictions" in task) == (not verified)
        results = (task.get("annotations") or task["predictions"])[0]["result"]
        for region in results:
            value = region["value"]
            assert 0 <= value["x"] <= 100 and 0 < value["width"] <= 100 - value["x"] + 1e-3  # 4-decimal rounding
        assert (tmp_path / "ls" / task["data"]["image"]).is_file()
    assert summary.verified_frames == sum("annotations" in t for t in tasks)
    assert summary.prelabeled_frames == sum("predictions" in t for t in tasks) > 0
    config = ET.parse(tmp_path / "ls" / "label_config.xml").getroot()
    assert {label.get("value") for label in config.iter("Label")} >= {"person", "car"}


def test_yolo_export_round_trips_through_our_import(labeled, tmp_path):
    data_dir, _ = labeled
    summary = run_export(data_dir, "yolo", tmp_path / "yolo", status="all")
    root = tmp_path / "yolo"
    assert summary.written["train"] > 0 and summary.written["val"] > 0
    names = [line.split(": ", 1)[1].strip('"') for line in (root / "data.yaml").read_text().splitlines()
             if line.startswith("  ")]
    assert names == summary.classes
    # One object never sits in both splits: a TUD track is wholly in train or wholly in val.
    # TUD frames keep their source names (000001.jpg, six digits; COCO's have twelve).
    tud_parts = {path.parent.name for path in root.glob("images/*/??????.jpg")}
    assert len(tud_parts) == 1
    with DataDir.open_readonly(data_dir) as store:
        original = {row["media_sha256"]: row for row in store.frame_rows()}
        original_boxes = {f["id"]: f["detections"] for f in store.iter_frames()}
    with DataDir.open(tmp_path / "again") as store:
        result = import_dataset(store, read_dataset(root, "yolo", name="roundtrip"))
    assert result.images == summary.frames == result.stored and result.boxes == summary.boxes
    with DataDir.open_readonly(tmp_path / "again") as again, DataDir.open_readonly(data_dir) as first:
        annotations = {}
        for row in sqlite_utils.Database(first.db_path).query("SELECT frame_id, x1, y1, x2, y2, class_name FROM annotations"):
            annotations.setdefault(row["frame_id"], []).append(row)
        for frame in again.iter_frames():
            source = original[frame["media_sha256"]]  # same bytes: the export copied the stored JPEG
            if source["status"] in ("accepted", "corrected"):
                expected = annotations.get(source["id"], [])  # a verified frame may have no objects
            else:
                expected = original_boxes[source["id"]]
            def corners(b):
                return np.array([b["x1"], b["y1"], b["x2"], b["y2"]])
            assert sorted(b["class_name"] for b in frame["detections"]) == sorted(b["class_name"] for b in expected)
            unmatched = list(expected)
            for box in frame["detections"]:  # each round-tripped box has its own original within rounding
                distance = [np.abs(corners(box) - corners(w)).max() if w["class_name"] == box["class_name"] else np.inf
                            for w in unmatched]
                assert min(distance) <= 0.01
                unmatched.pop(int(np.argmin(distance)))


def test_cvat_video_xml_keeps_tracks_with_keyframes_and_outside_flags(labeled, tmp_path):
    data_dir, _ = labeled
    summary = run_export(data_dir, "cvat", tmp_path / "cvat", status="all", devices=(TUD_DEVICE,))
    task_dir = tmp_path / "cvat" / safe_name(TUD_DEVICE)
    root = ET.parse(task_dir / "annotations.xml").getroot()
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    task = root.find("meta/task")
    size = int(task.findtext("size"))
    assert size == summary.frames == len(list((task_dir / "images").glob("frame_*.png")))
    assert task.findtext("mode") == "interpolation" and int(task.findtext("stop_frame")) == size - 1
    labels = {label.findtext("name") for label in task.find("labels")}
    tracks = root.findall("track")
    assert len(tracks) == summary.tracks == 8  # the 8 TUD-Campus identities, as tracks
    visible = 0
    for track in tracks:
        assert track.get("label") in labels
        boxes = track.findall("box")
        frames = [int(b.get("frame")) for b in boxes]
        assert frames == sorted(set(frames)) and 0 <= frames[0] and frames[-1] <= size - 1
        assert boxes[0].get("outside") == "0" and all(b.get("keyframe") == "1" for b in boxes)
        for box, following in zip(boxes, boxes[1:]):
            if box.get("outside") == "0" and following.get("outside") == "0":
                assert int(following.get("frame")) == int(box.get("frame")) + 1  # no silent interpolation
        for box in boxes:
            x1, y1, x2, y2 = (float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr"))
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        visible += sum(b.get("outside") == "0" for b in boxes)
    assert visible == summary.boxes
    assert any(b.get("outside") == "1" for t in tracks for b in t.findall("box"))  # dedup left gaps: closed


def test_mot_export_scores_mota_1_against_itself_and_against_the_original_ground_truth(labeled, tmp_path):
    data_dir, _ = labeled
    run_export(data_dir, "mot", tmp_path / "mot", status="all", devices=(TUD_DEVICE,))
    sequence = tmp_path / "mot" / safe_name(TUD_DEVICE)
    exported = read_mot_file(sequence / "gt" / "gt.txt")
    itself = evaluate_mot(exported, exported)
    assert itself.mota == 1.0 and itself.idf1 == 1.0
    # Back to the original frame numbers through frames.csv; compare with TUD-Campus's own gt.txt.
    rows = [line.split(",") for line in (sequence / "frames.csv").read_text().splitlines()[1:]]
    original_frame = {int(r[0]): int(r[3]) for r in rows}
    assert len(list((sequence / "img1").glob("*.jpg"))) == len(rows)
    remapped = type(exported)(np.array([original_frame[f] for f in exported.frame]), exported.track_id,
                              exported.tlwh, exported.score)
    original = read_mot_file(TUD / "gt" / "gt.txt")
    original = original[np.isin(original.frame, list(original_frame.values()))]
    metrics = evaluate_mot(original, remapped)
    assert metrics.mota == 1.0 and metrics.id_switches == 0 and metrics.gt_boxes == len(exported)


def test_voc_export_has_one_valid_xml_per_image(labeled, tmp_path):
    data_dir, _ = labeled
    summary = run_export(data_dir, "voc", tmp_path / "voc")
    stems = (tmp_path / "voc" / "ImageSets" / "Main" / "default.txt").read_text().split()
    assert len(stems) == summary.frames
    objects = 0
    for stem in stems:
        annotation = ET.parse(tmp_path / "voc" / "Annotations" / f"{stem}.xml").getroot()
        assert (tmp_path / "voc" / "JPEGImages" / annotation.findtext("filename")).is_file()
        width, height = int(annotation.findtext("size/width")), int(annotation.findtext("size/height"))
        for obj in annotation.findall("object"):
            box = [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height
            objects += 1
    assert objects == summary.boxes


def test_filters_by_device_class_time_and_model(labeled, tmp_path):
    data_dir, _ = labeled
    people = run_export(data_dir, "coco", tmp_path / "people", status="all", classes=("person",))
    document = json.loads((tmp_path / "people" / COCO_JSON).read_text())
    assert [c["name"] for c in document["categories"]] == ["person"]
    assert people.boxes == len(document["annotations"]) > 0 and people.classes == ["person"]
    only_tud = run_export(data_dir, "coco", tmp_path / "tud", status="all", model_ids=(TUD_DEVICE,))
    assert only_tud.devices == [TUD_DEVICE]
    with DataDir.open_readonly(data_dir) as store:
        times = sorted(row["capture_ts"] for row in store.frame_rows() if row["device"] == TUD_DEVICE)
    middle = times[len(times) // 2]
    early = run_export(data_dir, "mot", tmp_path / "early", status="all", devices=(TUD_DEVICE,), until=middle)
    late = run_export(data_dir, "mot", tmp_path / "late", status="all", devices=(TUD_DEVICE,), since=middle)
    assert early.frames + late.frames == only_tud.frames and early.frames > 0 and late.frames > 0


def test_empty_store_gives_empty_but_valid_datasets(tmp_path):
    with DataDir.open(tmp_path / "data"):
        pass
    for fmt in ("coco", "yolo", "voc", "cvat", "mot", "labelstudio"):
        summary = run_export(tmp_path / "data", fmt, tmp_path / fmt, status="all")
        assert summary.frames == 0 and (tmp_path / fmt).is_dir()
    assert COCO(str(tmp_path / "coco" / COCO_JSON)).getImgIds() == []
    assert "names: {}" in (tmp_path / "yolo" / "data.yaml").read_text()
    assert json.loads((tmp_path / "labelstudio" / "tasks.json").read_text()) == []


def all_files(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".edgelabel-export.json":
            data = path.read_bytes()
            if path.name == Path(COCO_JSON).name:  # COCO's info.date_created is the one timestamp
                document = json.loads(data)
                document["info"].pop("date_created")
                data = json.dumps(document).encode()
            files[path.relative_to(root).as_posix()] = data
    return files


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "cvat", "mot", "labelstudio"])
def test_two_exports_of_the_same_data_are_byte_identical(labeled, tmp_path, fmt):
    data_dir, _ = labeled
    run_export(data_dir, fmt, tmp_path / "a", status="all")
    run_export(data_dir, fmt, tmp_path / "b", status="all")
    first, second = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert first and first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)


def test_interrupted_export_leaves_nothing_or_the_previous_export(labeled, tmp_path, monkeypatch):
    data_dir, _ = labeled
    import server.exports.coco as coco_writer

    real_place, calls = coco_writer.place_image, []

    def failing_place(source, target, link):
        calls.append(target)
        if len(calls) == 10:
            raise OSError(28, "No space left on device")
        real_place(source, target, link)

    monkeypatch.setattr(coco_writer, "place_image", failing_place)
    with pytest.raises(ExportError, match="No space left on device"):
        run_export(data_dir, "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []  # no partial dir left behind
    monkeypatch.setattr(coco_writer, "place_image", real_place)
    run_export(data_dir, "coco", tmp_path / "out")
    before = all_files(tmp_path / "out")
    calls.clear()
    monkeypatch.setattr(coco_writer, "place_image", failing_place)
    with pytest.raises(ExportError):
        run_export(data_dir, "coco", tmp_path / "out", status="all")
    assert all_files(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refuses_to_replace_a_directory_that_is_not_an_export(labeled, tmp_path):
    data_dir, _ = labeled
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("x")
    with pytest.raises(ExportError, match="not an edgelabel export"):
        run_export(data_dir, "yolo", tmp_path / "precious")
    assert (tmp_path / "precious" / "thesis.tex").read_text() == "x"


def test_yolo_split_fraction_and_hard_links(labeled, tmp_path):
    data_dir, _ = labeled
    summary = run_export(data_dir, "yolo", tmp_path / "y", devices=(COCO_DEVICE,),
                         options=ExportOptions(val_fraction=0.25, link_images=True))
    assert summary.written == {"train": 24, "val": 8, "boxes": 284}
    image = next((tmp_path / "y" / "images" / "train").iterdir())
    assert image.stat().st_nlink >= 2  # linked to the stored JPEG, not copied


# --- the names an imported frame keeps -----------------------------------------------------------------


def test_exports_name_imported_frames_after_their_source_files(labeled, tmp_path):
    data_dir, _ = labeled
    original = json.loads((TUD.parent.parent / "coco" / "annotations" / "instances_train2017.json").read_text())
    run_export(data_dir, "coco", tmp_path / "coco", devices=(COCO_DEVICE,))
    exported = COCO(str(tmp_path / "coco" / COCO_JSON))
    images = exported.loadImgs(exported.getImgIds())
    assert {(i["file_name"], i["id"]) for i in images} == {(i["file_name"], i["id"]) for i in original["images"]}
    assert {a["image_id"] for a in exported.loadAnns(exported.getAnnIds())} <= {i["id"] for i in images}
    again = read_folder(tmp_path / "coco")  # our COCO export is a COCO root of its own
    assert [(d.kind, len(d.images)) for d in again.datasets] == [("coco", 32)] and again.warnings == []
    with DataDir.open_readonly(data_dir) as store:
        sources = {row["id"]: row["source_file"] for row in store.frame_rows()}
    tud_names = {f"{n:06d}.jpg" for n in range(1, 72)}
    assert set(sources.values()) == {i["file_name"] for i in original["images"]} | tud_names
    summary = run_export(data_dir, "voc", tmp_path / "voc", status="all")
    voc_names = {path.name for path in (tmp_path / "voc" / "JPEGImages").iterdir()}
    assert len(voc_names) == summary.frames and voc_names <= set(sources.values())
    run_export(data_dir, "yolo", tmp_path / "yolo", status="all")
    assert {path.name for path in (tmp_path / "yolo").glob("images/*/*.jpg")} == voc_names
    assert {path.stem for path in (tmp_path / "yolo").glob("labels/*/*.txt")} == {name[:-4] for name in voc_names}
    run_export(data_dir, "labelstudio", tmp_path / "ls", status="all")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert all(task["data"]["image"] == f"images/{sources[task['id']]}" for task in tasks)
    run_export(data_dir, "mot", tmp_path / "mot", status="all", devices=(TUD_DEVICE,))
    rows = [line.split(",") for line in (tmp_path / "mot" / safe_name(TUD_DEVICE) / "frames.csv").read_text().splitlines()]
    column = rows[0].index("source_file")
    assert all(row[column] == f"{int(row[3]):06d}.jpg" for row in rows[1:])


def test_source_names_that_would_collide_fall_back_to_the_collectors_own(tmp_path):
    for folder, name, picture in (("a", "x.jpg", "darknet_dog.jpg"), ("b", "X.JPG", "yolov5_bus.jpg"),
                                  ("b", "only.jpg", "darknet_horses.jpg")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_bytes((IMAGES_DIR / picture).read_bytes())
    with DataDir.open(tmp_path / "data") as store:
        for folder in ("a", "b"):
            import_dataset(store, read_dataset(tmp_path / folder))
    run_export(tmp_path / "data", "coco", tmp_path / "out", status="all")
    images = json.loads((tmp_path / "out" / COCO_JSON).read_text())["images"]
    names = {image["seq"]: image["file_name"] for image in images}
    assert len(names) == 3 and names[path_seq(tmp_path / "b", tmp_path / "b" / "only.jpg")] == "only.jpg"
    # x.jpg and X.JPG are one file on a case-insensitive file system: both get the collector's names.
    for image in images:
        if image["file_name"] != "only.jpg":
            assert image["file_name"] == f"{safe_name(image['device'])}-{image['seq']:08d}.jpg"
            assert image["id"] == image["frame_id"]


def test_kept_where_unique_falls_back_on_every_clash_even_with_a_fallback():
    fallback = {1: 1, 2: 2, 3: 3, 4: 4}
    # 3 and 4 want the same id; 1 wants 2, which frame 2 (no preference) holds as its own.
    assert kept_where_unique({1: 2, 2: None, 3: 9, 4: 9}, fallback) == {1: 1, 2: 2, 3: 3, 4: 4}
    assert kept_where_unique({1: 7, 2: None, 3: 9, 4: None}, fallback) == {1: 7, 2: 2, 3: 9, 4: 4}
    assert kept_where_unique({1: "A", 2: "a"}, {1: "f1", 2: "f2"}, key=str.casefold) == {1: "f1", 2: "f2"}
