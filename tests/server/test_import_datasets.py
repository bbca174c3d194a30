"""Importers on real datasets: COCO (with its real boxes), MOT tracks, plain folders, YOLO errors; and both commands."""

import argparse
import json

import cv2
import pytest
import sqlite_utils
from pycocotools.coco import COCO

from server.commands import export as export_command
from server.commands import import_ as import_command
from server.datadir import DataDir
from server.errors import CollectorError
from server.importers import DatasetImportError, read_dataset
from server.importers.ingest import import_dataset
from tests.server._datasets import COCO_IMAGES, COCO_JSON, TUD
from tests.server._paths import IMAGES_DIR


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
