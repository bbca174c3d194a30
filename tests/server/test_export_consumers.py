"""Each export loaded by the tool people feed it to, and through our own import, with the collector's counts.

The source collector holds real labeled data (tests.server._datasets: 32 COCO images with their
COCO boxes, the TUD-Campus sequence with its MOT tracks, some frames reviewed). Every format is
exported with ``--status all`` and read back by its real consumer: Datumaro (the reader CVAT's
importers use) for COCO, VOC, YOLO, CVAT and MOT; pycocotools for COCO; label-studio-sdk for Label
Studio; our MOT file reader for MOT. The counts (frames, boxes per class, tracks) must equal what
the collector exported. Every format then goes through ``edgelabel-collector import`` into a
fresh collector, which must hold the same images with the same boxes, classes and track ids.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edge.contract.motfile import read_mot_file
from server.cli import main as collector_main
from server.datadir import DataDir
from server.exports import ExportOptions, Selection, export
from server.exports import coco as coco_export
from server.exports.filter import select
from server.exports.naming import safe_name
from server.exports.options import HeldOut
from server.importers import read_folder
from tests.server._datasets import COCO_DEVICE, TUD_DEVICE, build_labeled_store

dm = pytest.importorskip("datumaro", reason="datumaro is a dev dependency: pip install -e '.[dev]'")
from datumaro.components.annotation import AnnotationType  # noqa: E402


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The labeled collector, and every format exported from it once."""
    data_dir = tmp_path_factory.mktemp("source")
    build_labeled_store(data_dir)
    exports = tmp_path_factory.mktemp("exports")
    summaries = {}
    with DataDir.open_readonly(data_dir) as store:
        for fmt in ("coco", "voc", "yolo", "cvat", "mot", "labelstudio"):
            summaries[fmt] = export(store, fmt, exports / fmt, Selection(status="all"))
        data = select(store, Selection(status="all"))
    return data_dir, exports, summaries, data


def per_class(frames) -> Counter:
    return Counter(box.class_name for frame in frames for box in frame.boxes)


def datumaro_boxes(dataset, keep=lambda annotation: True) -> Counter:
    names = dataset.categories()[AnnotationType.label]
    return Counter(names[a.label].name for item in dataset for a in item.annotations
                   if a.type == AnnotationType.bbox and keep(a))


def assert_images_load(dataset) -> None:
    for item in dataset:
        assert item.media is not None and Path(item.media.path).is_file(), item.id
        assert item.media.data is not None and item.media.data.ndim == 3


# --- the real consumers ----------------------------------------------------------------------------


def test_coco_opens_in_datumaro_and_pycocotools_with_the_collectors_counts(source):
    from pycocotools.coco import COCO

    _, exports, summaries, data = source
    root = exports / "coco"
    dataset = dm.Dataset.import_from(str(root), "coco_instances")
    assert len(dataset) == summaries["coco"].frames == len(data.frames)
    assert datumaro_boxes(dataset) == per_class(data.frames)
    assert [name.name for name in dataset.categories()[AnnotationType.label]] == list(data.class_names)
    assert_images_load(dataset)
    assert not [a for item in dataset for a in item.annotations if a.type != AnnotationType.bbox]  # no masks claimed

    gt = COCO(str(root / coco_export.ANNOTATIONS_FILE))
    annotations = gt.loadAnns(gt.getAnnIds())
    assert len(annotations) == summaries["coco"].boxes and all(a["segmentation"] == [] for a in annotations)
    assert Counter(gt.cats[a["category_id"]]["name"] for a in annotations) == per_class(data.frames)
    assert len({(gt.imgs[a["image_id"]]["device"], a["track_id"]) for a in annotations if "track_id" in a}) \
        == summaries["coco"].tracks
    import matplotlib

    matplotlib.use("Agg")
    gt.showAnns(gt.loadAnns(gt.getAnnIds(imgIds=[annotations[0]["image_id"]])), draw_bbox=True)  # KeyError before


def test_voc_opens_in_datumaro_with_its_labelmap(source):
    _, exports, summaries, data = source
    dataset = dm.Dataset.import_from(str(exports / "voc"), "voc_detection")
    assert len(dataset) == summaries["voc"].frames == len(data.frames)
    assert datumaro_boxes(dataset) == per_class(data.frames)  # 'truck' and the like are declared, not refused
    assert_images_load(dataset)


def test_yolo_opens_in_datumaro_with_both_splits(source):
    _, exports, summaries, data = source
    dataset = dm.Dataset.import_from(str(exports / "yolo"), "yolo")
    written = summaries["yolo"].written
    assert {name: len(subset) for name, subset in dataset.subsets().items()} == {"train": written["train"],
                                                                                  "val": written["val"]}
    assert len(dataset) == len(data.frames) and datumaro_boxes(dataset) == per_class(data.frames)
    assert_images_load(dataset)


def test_cvat_video_tasks_open_in_datumaro_with_their_images_and_tracks(source):
    _, exports, summaries, data = source
    for device in (TUD_DEVICE, COCO_DEVICE):
        frames = [frame for frame in data.frames if frame.device == device]
        dataset = dm.Dataset.import_from(str(exports / "cvat" / safe_name(device)), "cvat")
        visible = lambda a: not a.attributes.get("outside")  # noqa: E731  (outside boxes close a track)
        assert datumaro_boxes(dataset, visible) == per_class(frames)
        with_boxes = [item for item in dataset if any(visible(a) for a in item.annotations)]
        assert len(with_boxes) == sum(bool(frame.boxes) for frame in frames)
        assert_images_load(dataset)
        tracks = {a.attributes["track_id"] for item in dataset for a in item.annotations}
        if device == TUD_DEVICE:  # the collector's own track ids
            assert tracks == {box.track_id for frame in frames for box in frame.boxes} and len(tracks) == 8


def test_mot_opens_in_datumaro_with_classes_tracks_and_visible_boxes(source):
    _, exports, summaries, data = source
    for device in (TUD_DEVICE, COCO_DEVICE):
        sequence = exports / "mot" / safe_name(device)
        frames = [frame for frame in data.frames if frame.device == device]
        info = dict(line.split("=", 1) for line in (sequence / "seqinfo.ini").read_text().splitlines()[1:])
        assert int(info["frameRate"]) >= 1  # a whole number: readers parse it with int()
        dataset = dm.Dataset.import_from(str(sequence), "mot_seq")
        boxes = [a for item in dataset for a in item.annotations if a.type == AnnotationType.bbox]
        assert len(dataset) == len(frames) and datumaro_boxes(dataset) == per_class(frames)
        assert all(a.attributes["visibility"] == 1 and not a.attributes["occluded"] and not a.attributes["ignored"]
                   for a in boxes)
        assert_images_load(dataset)
        tracked = {box.track_id for frame in frames for box in frame.boxes if box.track_id is not None}
        assert tracked <= {a.attributes["track_id"] for a in boxes}
        rows = read_mot_file(sequence / "gt" / "gt.txt")  # our verified reader: the metric code's input
        assert len(rows) == len(boxes) and (rows.score == 1).all()
    assert len(list((exports / "mot").glob("*/gt/gt.txt"))) == summaries["mot"].written["sequences"] == 2


def test_labelstudio_config_and_every_task_validate_in_label_studio_sdk(source):
    from label_studio_sdk.label_interface import LabelInterface

    _, exports, summaries, data = source
    root = exports / "labelstudio"
    interface = LabelInterface((root / "label_config.xml").read_text())
    interface.validate()
    tasks = json.loads((root / "tasks.json").read_text())
    assert len(tasks) == len(data.frames)
    regions = Counter()
    for task in tasks:
        assert (root / task["data"]["image"]).is_file()
        for prediction in task.get("predictions", []):
            assert interface.validate_prediction(prediction, return_errors=True) == []
        for annotation in task.get("annotations", []):
            assert interface.validate_annotation(annotation)
        for entry in task.get("predictions", []) + task.get("annotations", []):
            regions.update(region["value"]["rectanglelabels"][0] for region in entry["result"])
    assert regions == per_class(data.frames)


# --- round trips through our own import --------------------------------------------------------------


def boxes_by_image(data, with_tracks: bool) -> dict[str, list]:
    """Per stored JPEG (the export copies it byte for byte): its boxes as (class, track, xyxy), sorted."""
    boxes = {}
    for frame in data.frames:
        boxes[frame.image.sha256] = sorted(
            (box.class_name, (box.track_id if with_tracks else None) or -1, *np.round(box.xyxy, 2))
            for box in frame.boxes)
    return boxes


def import_again(root: Path, data_dir: Path) -> object:
    assert collector_main(["init", "--data-dir", str(data_dir)]) == 0
    assert collector_main(["import", str(root), "--data-dir", str(data_dir), "--verified", "--no-progress"]) == 0
    with DataDir.open_readonly(data_dir) as store:
        return select(store, Selection(status="verified"))


def assert_same_boxes(expected: dict, got: dict, tracks_of_untracked_change: bool = False) -> None:
    assert got.keys() == expected.keys()
    for sha in expected:
        want, have = expected[sha], got[sha]
        assert len(want) == len(have), sha
        if tracks_of_untracked_change:  # MOT gives every box an id: compare the ids the source had
            have = sorted((c, t if any(w[0] == c and w[1] == t for w in want) else -1, *xyxy)
                          for c, t, *xyxy in have)
        for w, h in zip(want, have):
            assert w[:2] == h[:2] and np.allclose(w[2:], h[2:], atol=0.011), (sha, w, h)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "mot", "voc", "labelstudio"])
def test_export_then_import_gives_the_same_frames_boxes_classes_and_tracks(source, tmp_path, fmt):
    _, exports, _, data = source
    assert read_folder(exports / fmt).warnings == []  # every label file of the export is read
    again = import_again(exports / fmt, tmp_path / "again")
    assert len(again.frames) == len(data.frames)
    assert set(again.class_names) == set(data.class_names)
    with_tracks = fmt != "yolo"  # YOLO has no place for a track id
    assert_same_boxes(boxes_by_image(data, with_tracks), boxes_by_image(again, with_tracks),
                      tracks_of_untracked_change=fmt == "mot")


def test_cvat_export_then_import_gives_the_same_frames_boxes_classes_and_tracks(source, tmp_path):
    """CVAT frames are PNGs (the import stores them as JPEGs again), so frames are matched by their place in
    each device's sequence, which is the task's frame order."""
    from server.exports.sequences import by_device

    _, exports, _, data = source
    assert read_folder(exports / "cvat").warnings == []
    again = import_again(exports / "cvat", tmp_path / "again")
    assert set(again.class_names) == set(data.class_names)
    imported = by_device(again.frames)
    for device, frames in by_device(data.frames).items():
        copies = imported[f"import:cvat/{safe_name(device)}"]
        assert len(copies) == len(frames)
        for frame, copy in zip(frames, copies):
            assert (copy.width, copy.height) == (frame.width, frame.height)
            want = boxes_by_image(type(data)((frame,), data.class_names), True)
            have = boxes_by_image(type(data)((copy,), again.class_names), True)
            assert_same_boxes(want, {frame.image.sha256: have[copy.image.sha256]},
                              tracks_of_untracked_change=True)  # CVAT for video: a lone box is a one-frame track


def test_an_export_in_the_old_coco_layout_still_imports(source, tmp_path):
    _, exports, _, data = source
    old = tmp_path / "old-coco"
    (old / "images").mkdir(parents=True)
    for image in (exports / "coco" / coco_export.IMAGES_DIR).iterdir():
        (old / "images" / image.name).write_bytes(image.read_bytes())
    (old / "annotations.json").write_bytes((exports / "coco" / coco_export.ANNOTATIONS_FILE).read_bytes())
    again = import_again(old, tmp_path / "again")
    assert_same_boxes(boxes_by_image(data, True), boxes_by_image(again, True))


def test_an_old_mot15_export_still_imports_as_person_boxes(source, tmp_path):
    _, exports, _, data = source
    sequence = tmp_path / "old-mot" / "seq"
    (sequence / "gt").mkdir(parents=True)
    (sequence / "img1").symlink_to(exports / "mot" / safe_name(TUD_DEVICE) / "img1")
    rows = (exports / "mot" / safe_name(TUD_DEVICE) / "gt" / "gt.txt").read_text().splitlines()
    (sequence / "gt" / "gt.txt").write_text("".join(",".join(row.split(",")[:7] + ["-1", "-1", "-1"]) + "\n"
                                                    for row in rows))  # the MOT15 columns, no class list
    again = import_again(sequence, tmp_path / "again")
    assert again.class_names == ("person",)
    assert sum(len(frame.boxes) for frame in again.frames) == len(rows)


# --- YOLO's val split when no clean one exists -------------------------------------------------------


def test_one_continuous_clip_validates_on_its_latest_frames_and_says_so(source, tmp_path):
    data_dir, _, _, _ = source
    with DataDir.open_readonly(data_dir) as store:
        summary = export(store, "yolo", tmp_path / "clip", Selection(status="all", devices=(TUD_DEVICE,)))
    written = summary.written
    assert written["val_by_time"] == written["val"] == round(0.2 * summary.frames) and written["train"] > 0
    assert written["shared_tracks"] > 0 and len(summary.notes) == 1 and "--val-from" in summary.notes[0]
    data_yaml = (tmp_path / "clip" / "data.yaml").read_text()
    assert "val: images/val\n" in data_yaml and f"# note: {summary.notes[0]}\n" in data_yaml
    dataset = dm.Dataset.import_from(str(tmp_path / "clip"), "yolo")
    assert len(dataset.get_subset("val")) == written["val"]


def test_val_from_holds_out_a_device_or_a_time_range(source, tmp_path, capsys):
    data_dir, _, _, data = source
    with DataDir.open_readonly(data_dir) as store:
        by_device = export(store, "yolo", tmp_path / "device", Selection(status="all"),
                           ExportOptions(val_from=HeldOut(device=COCO_DEVICE)))
        coco_stems = {frame.stem for frame in data.frames if frame.device == COCO_DEVICE}
        assert {path.stem for path in (tmp_path / "device" / "images" / "val").iterdir()} == coco_stems
        assert "shared_tracks" not in by_device.written and "device import:coco" in by_device.notes[0]
        tud = sorted(frame.capture_ts for frame in data.frames if frame.device == TUD_DEVICE)
        half = len(tud) // 2
        by_time = export(store, "yolo", tmp_path / "time", Selection(status="all", devices=(TUD_DEVICE,)),
                         ExportOptions(val_from=HeldOut(since=tud[half])))
        assert by_time.written["val"] == by_time.written["val_held_out"] == len(tud) - half
        assert by_time.written["shared_tracks"] > 0 and "appear in both train and val" in by_time.notes[0]
    capsys.readouterr()
    for fmt, message in (("yolo", "no exported frame is from device no-such-camera"), ("coco", "coco has no val split")):
        result = collector_main(["export", fmt, "--data-dir", str(data_dir), "--out", str(tmp_path / "cli"),
                                 "--status", "all", "--val-from", "no-such-camera", "--no-progress"])
        error = capsys.readouterr().err
        assert result == 2 and message in error and error.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "cli").exists()
