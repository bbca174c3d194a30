"""Ultralytics-style metadata and labels files."""

import logging

import pytest

from edge.contract.errors import ConfigError
from edge.detection.class_names import read_labels_file
from edge.detection.metadata import parse_metadata


def test_ultralytics_fields():
    metadata = parse_metadata({
        "names": "{0: 'person', 1: 'bicycle'}", "stride": "32", "imgsz": "[640, 480]", "task": "detect",
        "end2end": "True", "author": "Ultralytics",
    })  # fmt: skip
    assert metadata.names == ("person", "bicycle") and metadata.stride == 32
    assert metadata.imgsz == (640, 480) and metadata.task == "detect" and metadata.end2end is True
    assert metadata.is_ultralytics


def test_yolov5_writes_names_and_stride_only():
    metadata = parse_metadata({"names": "['cat', 'dog']", "stride": "32"})
    assert metadata.names == ("cat", "dog") and metadata.is_ultralytics and metadata.end2end is None


def test_no_metadata():
    metadata = parse_metadata({})
    assert metadata.names is None and not metadata.is_ultralytics and metadata.imgsz is None


@pytest.mark.parametrize(
    "props",
    [
        {"names": "__import__('os').system('true')"},  # never evaluated
        {"names": "{1: 'a', 2: 'b'}"},  # not 0..C-1
        {"names": "{0: 'a'"},  # not a literal
        {"names": "42"},
    ],
)
def test_unusable_names_are_ignored_with_a_warning(props, caplog):
    with caplog.at_level(logging.WARNING, logger="edge.detector"):
        assert parse_metadata(props).names is None
    assert "names" in caplog.text


def test_scalar_imgsz_and_odd_values():
    assert parse_metadata({"imgsz": "320"}).imgsz == (320, 320)
    assert parse_metadata({"imgsz": "[0, 320]"}).imgsz is None
    assert parse_metadata({"end2end": "yes"}).end2end is None
    assert parse_metadata({"stride": "[8, 16, 32]"}).stride == 32


def test_labels_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("forklift\n pallet \n\nperson\n")
    assert read_labels_file(path) == ("forklift", "pallet", "person")


def test_bad_labels_files(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read labels file .*missing\.txt: No such file"):
        read_labels_file(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(ConfigError, match="has no class names"):
        read_labels_file(empty)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read labels file"):
        read_labels_file(binary)
