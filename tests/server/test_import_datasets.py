"""Importers on real datasets: COCO (with its real boxes), MOT tracks, plain folders, YOLO errors, the standard
COCO, YOLO and MOT roots, the warning about label files left unread; and both commands."""

import argparse
import json
import sqlite3

import cv2
import pytest
import sqlite_utils
from pycocotools.coco import COCO

from server.commands import export as export_command
from server.commands import import_ as import_command
from server.datadir import DB_FILENAME, DataDir
from server.errors import CollectorError
from server.importers import DatasetImportError, read_dataset, read_folder
from server.importers.importer import import_dataset
from tests.server._datasets import COCO_IMAGES, COCO_JSON, TUD
from tests.server._paths import DATA_DIR, IMAGES_DIR

COCO128 = DATA_DIR / "coco128"


def test_coco_import_stores_the_real_boxes_and_a_second_import_stores_nothing(tmp_path):
    dataset = read_dataset(COCO_IMAGES, annotations=COCO_JSON, name="coco")
    with DataDir.open(tmp_path) as store:
        first = import_dataset(store, dataset)
        second = import_dataset(store, read_dataset(COCO_IMAGES, annotations=COCO_JSON, name="coco"))
    assert (first.stored, first.skipped) == (32, {"crowd region": 4}) and first.boxes == 284
    assert second.stored == 0 and second.already_imported == 32
    coco = COCO(str(COCO_JSON))
    with DataDir.open_readonly(tmp_path) as store:
        frames = list(store.iter_frames())
    assert {f["status"] for f in frames} == {"pending"} and {f["reasons"][0] for f in frames} == {"imported"}
    frame = next(f for f in frames if f["seq"] == 397133)
    expected = sorted((coco.cats[a["category_id"]]["name"], round(a["bbox"][0], 2), round(a["bbox"][1], 2))
                      for a in coco.loadAnns(coco.getAnnIds(imgIds=[397133], iscrowd=False)))
    assert sorted((d["class_name"], round(d["x1"], 2), round(d["y1"], 2)) for d in frame["detections"]) == expected


def test_verified_import_accepts_the_frames_with_an_audit_trail(tmp_path):
    with DataDir.open(tmp_path) as store:
        summary = import_dataset(store, read_dataset(COCO_IMAGES, annotations=COCO_JSON, name="coco"), verified=True)
    assert summary.accepted == 32
    with DataDir.open_readonly(tmp_path) as store:
        assert store.stats()["frames_by_status"] == {"accepted": 32}
        authors = {row["author"] for row in sqlite_utils.Database(store.db_path).query("SELECT author FROM annotations")}
        actions = [row["action"] for row in sqlite_utils.Database(store.db_path).query("SELECT action FROM review_events WHERE frame_id = 1")]
    assert authors == {"import:coco"} and actions == ["claim", "accept"]


def test_mot_import_keeps_the_track_ids(tmp_path):
    with DataDir.open(tmp_path) as store:
        summary = import_dataset(store, read_dataset(TUD))
    assert summary.images == 71 and summary.stored + summary.duplicates == 71
    with DataDir.open_readonly(tmp_path) as store:
        frames = list(store.iter_frames())
    assert {d["track_id"] for f in frames for d in f["detections"]} == set(range(1, 9))
    assert all(d["class_name"] == "person" for f in frames for d in f["detections"])
    assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)


def test_image_folder_import_queues_unlabeled_frames_and_re_encodes_other_formats(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("darknet_dog.jpg", "yolov5_bus.jpg"):
        (folder / name).write_bytes((IMAGES_DIR / name).read_bytes())
    cv2.imwrite(str(folder / "zidane.png"), cv2.imread(str(IMAGES_DIR / "yolov5_zidane.jpg")))
    with DataDir.open(tmp_path / "data") as store:
        summary = import_dataset(store, read_dataset(folder, name="photos"))
    assert (summary.stored, summary.reencoded, summary.boxes) == (3, 1, 0)
    with DataDir.open_readonly(tmp_path / "data") as store:
        rows = store.frame_rows()
    assert {(r["width"], r["height"]) for r in rows} == {(768, 576), (810, 1080), (1280, 720)}
    assert {r["device"] for r in rows} == {"import:photos"}


def test_a_malformed_yolo_label_is_one_clear_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "dog.jpg").write_bytes((IMAGES_DIR / "darknet_dog.jpg").read_bytes())
    (tmp_path / "data.yaml").write_text("names: [dog, bicycle]\n")
    (tmp_path / "labels" / "dog.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetImportError, match=r"dog.txt:2: class 7 is not in the 2 names"):
        read_dataset(tmp_path)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="edgelabel-collector")
    commands = root.add_subparsers(dest="command", required=True)
    export_command.add_parser(commands)
    import_command.add_parser(commands)
    return root


def test_command_format_lists_match_the_registries():
    from server.exports import FORMATS
    from server.importers import IMPORT_FORMATS

    assert export_command.FORMAT_NAMES == tuple(sorted(FORMATS))
    assert import_command.IMPORT_FORMATS == IMPORT_FORMATS


def test_commands_import_then_export_with_a_summary(tmp_path, capsys):
    for sub in ("export", "import"):
        assert "example" in parser()._subparsers._group_actions[0].choices[sub].format_help()
    args = parser().parse_args(["import", str(COCO_IMAGES), "--data-dir", str(tmp_path / "d"),
                                "--annotations", str(COCO_JSON), "--name", "coco", "--verified", "--no-progress"])
    assert args.handler(args) == 0
    assert "32 stored and accepted" in capsys.readouterr().out
    args = parser().parse_args(["export", "yolo", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "y"),
                                "--classes", "person,car", "--since", "2000-01-01", "--no-progress", "--json"])
    assert args.handler(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["classes"] == ["person", "car"] and summary["verified_frames"] == summary["frames"] > 0
    args = parser().parse_args(["export", "coco", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")])
    with pytest.raises(CollectorError, match="no edgelabel database"):
        args.handler(args)


# --- standard dataset roots, built from the shared data by symlinks at test time ---------------------


def link_files(files, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        (folder / path.name).symlink_to(path)


def coco_root(tmp_path):
    """The reported layout: DIR/annotations/instances_train2017.json beside DIR/images/train2017/."""
    root = tmp_path / "coco-root"
    link_files([COCO_JSON], root / "annotations")
    link_files(sorted(COCO_IMAGES.glob("*.jpg")), root / "images" / "train2017")
    return root


def run_import(capsys, *arguments):
    args = parser().parse_args(["import", *map(str, arguments), "--no-progress", "--json"])
    assert args.handler(args) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_a_standard_coco_root_is_imported_as_coco_with_every_annotation(tmp_path, capsys):
    summary, warnings = run_import(capsys, coco_root(tmp_path), "--data-dir", tmp_path / "d")
    document = json.loads(COCO_JSON.read_text())
    # The reported case: 32 images and all 288 annotations, 284 boxes and the 4 crowd regions left out by name.
    assert (summary["device"], summary["images"], summary["stored"]) == ("import:coco-root", 32, 32)
    assert summary["boxes"] + summary["skipped"]["crowd region"] == len(document["annotations"]) == 288
    assert warnings == ""
    with DataDir.open_readonly(tmp_path / "d") as store:
        kept = {(row["source_file"], row["source_image_id"]) for row in store.frame_rows()}
    assert kept == {(image["file_name"], image["id"]) for image in document["images"]}


def test_coco_splits_each_become_a_dataset_in_the_layout_the_coco_zips_unpack_to(tmp_path):
    root = tmp_path / "coco2017"
    for split in ("train2017", "val2017"):
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").symlink_to(COCO_JSON)
        link_files(sorted(COCO_IMAGES.glob("*.jpg")), root / split)
    (root / "annotations" / "instances_test2017.json").symlink_to(COCO_JSON)  # its images are not there
    folder = read_folder(root)
    assert [(d.kind, d.name, len(d.images)) for d in folder.datasets] == [
        ("coco", "coco2017/train2017", 32), ("coco", "coco2017/val2017", 32)]
    assert len(folder.warnings) == 1 and "annotations/instances_test2017.json" in folder.warnings[0]


def coco128_names():
    categories = json.loads((COCO128 / "annotations" / "instances_train2017.json").read_text())["categories"]
    return [category["name"] for category in sorted(categories, key=lambda c: c["id"])]


def label_lines(labels):
    return sum(1 for path in labels for line in path.read_text().splitlines() if line.strip())


def test_yolo_roots_in_the_ultralytics_layout_and_flat(tmp_path):
    images = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))[:14]
    labels = [COCO128 / "labels" / "train2017" / f"{image.stem}.txt" for image in images]
    labels = [path for path in labels if path.is_file()]
    split = tmp_path / "ultralytics"
    link_files(images[:10], split / "images" / "train")
    link_files(images[10:], split / "images" / "val")
    link_files([p for p in labels if p.stem in {i.stem for i in images[:10]}], split / "labels" / "train")
    link_files([p for p in labels if p.stem in {i.stem for i in images[10:]}], split / "labels" / "val")
    (split / "data.yaml").write_text("train: images/train\nval: images/val\nnames:\n"
                                     + "".join(f"  {i}: {name}\n" for i, name in enumerate(coco128_names())))
    flat = tmp_path / "flat"
    link_files(images, flat / "images")
    link_files(labels, flat / "labels")
    (flat / "classes.txt").write_text("".join(f"{name}\n" for name in coco128_names()))
    for root in (split, flat):
        folder = read_folder(root)
        (dataset,) = folder.datasets
        assert (dataset.kind, len(dataset.images), folder.warnings) == ("yolo", 14, [])
        assert sum(len(image.boxes) for image in dataset.images) == label_lines(labels) > 0


def test_a_folder_of_mot_sequences_gives_one_device_per_sequence(tmp_path, capsys):
    root = tmp_path / "MOT15-train"
    root.mkdir()
    for name in ("TUD-Campus", "TUD-Again"):
        (root / name).symlink_to(TUD)
    summaries, _ = run_import(capsys, root, "--data-dir", tmp_path / "d")
    assert [(s["device"], s["images"], s["boxes"]) for s in summaries] == [
        ("import:MOT15-train/TUD-Again", 71, 359), ("import:MOT15-train/TUD-Campus", 71, 359)]
    assert summaries[1]["stored"] == 0  # the same pictures again: all duplicates of the first sequence
    with DataDir.open_readonly(tmp_path / "d") as store:
        assert {row["source_file"] for row in store.frame_rows()} == {f"{n:06d}.jpg" for n in range(1, 72)}


def test_label_files_the_import_does_not_read_are_named_in_a_warning(tmp_path, capsys):
    summary, warnings = run_import(capsys, coco_root(tmp_path), "--format", "images", "--data-dir", tmp_path / "d")
    assert summary["boxes"] == 0
    assert warnings.startswith("edgelabel-collector import: warning: 1 JSON annotation file")
    assert "(annotations/instances_train2017.json): COCO reads them: --format coco" in warnings
    # COCO128 ships both: read as COCO, its YOLO labels are named with the format that reads them.
    (warning,) = read_folder(COCO128).warnings
    assert warning.startswith(f"126 YOLO label files in {COCO128} not imported (labels/train2017/000000000009.txt")
    assert "--format yolo" in warning


def test_a_database_from_before_frame_sources_upgrades_without_loss(tmp_path):
    with DataDir.open(tmp_path) as store:
        import_dataset(store, read_dataset(TUD))
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:  # as the previous version left it
        conn.execute("ALTER TABLE frames DROP COLUMN source_file")
        conn.execute("ALTER TABLE frames DROP COLUMN source_image_id")
        conn.execute("DELETE FROM migrations WHERE name = '0008_frame_source'")
        before = conn.execute("SELECT * FROM frames ORDER BY id").fetchall()
        detections = conn.execute("SELECT * FROM detections ORDER BY id").fetchall()
    DataDir.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        after = conn.execute("SELECT * FROM frames ORDER BY id").fetchall()
        assert conn.execute("SELECT * FROM detections ORDER BY id").fetchall() == detections
    assert [row[:-2] for row in after] == before and {row[-2:] for row in after} == {(None, None)}
