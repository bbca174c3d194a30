"""``edgelabel-agent sample``: the full pipeline without sending, and a report a person can open."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from edge.commands import sample
from edge.contract.errors import AgentError
from tests.conftest import DATA_DIR, MODEL_PATH

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus" / "img1"


def parse(argv):
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    sample.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sample", *argv])


def test_sample_writes_a_report_of_what_would_be_sent(tmp_path, capsys):
    report = tmp_path / "report"
    args = parse(["--source", str(TUD_CAMPUS), "--model", str(MODEL_PATH), "--report", str(report), "--image-fps", "25",
                  "--threads", "2", "--frames", "--no-progress", "--json", "--keyframes-per-minute", "0"])
    assert sample.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == summary["frames_detected"] == 71
    rows = [json.loads(line) for line in (report / "kept.jsonl").read_text().splitlines()]
    # No frame budget: the frames that show every person of the 2.84 s (measured: 2) and nothing redundant.
    assert len(rows) == summary["kept"] >= 2
    assert rows[0]["frame_index"] == 0 and rows[0]["reasons"][0] == "first"
    assert all(row["boxes"] and {"xyxy", "score", "class", "track_id"} <= set(row["boxes"][0]) for row in rows)
    assert any(box["class"] == "person" and box["track_id"] >= 1 for row in rows for box in row["boxes"])
    assert all((report / row["file"]).stat().st_size == row["jpeg_bytes"] for row in rows)
    index = (report / "index.html").read_text()
    for name in ("timeline.png", "sheet-001.jpg", "kept.jsonl", "summary.json"):
        assert name in index and (report / name).stat().st_size > 0
    assert json.loads((report / "summary.json").read_text())["kept"] == summary["kept"]
    # Why each frame was kept: the coverage selector's value and the objects it showed first.
    assert all({"value", "new_tracks", "waited_s"} <= set(row["signals"]) for row in rows)
    assert sum(row["signals"]["new_tracks"] for row in rows) == summary["captured_tracks"] >= 1
    assert summary["missed_tracks"] >= 0 and sum(summary["committed_on"].values()) == summary["kept"]
    # The look-ahead's memory: at most max_held (8) of these 640x480 frames (0.9216 MB each).
    assert 1 <= summary["held_peak"] <= 8
    assert summary["held_megabytes_peak"] == round(summary["held_peak"] * 0.9216, 3)
    assert "missed_tracks" in index


def test_sample_without_matplotlib_says_what_to_install_before_running(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    args = parse(["--source", str(TUD_CAMPUS), "--model", str(MODEL_PATH), "--report", str(tmp_path / "r")])
    with pytest.raises(AgentError, match=r"^the timeline plot needs matplotlib: pip install 'edgelabel\[report\]'$"):
        sample.run(args)
    assert not (tmp_path / "r").exists()


def test_sample_help_has_examples_and_its_flags_parse():
    parser = argparse.ArgumentParser(prog="edgelabel-agent")
    assert "examples:" in sample.add_parser(parser.add_subparsers()).format_help()
    args = parse(["--source", "a.mp4", "--model", "m.onnx", "--report", "r", "--config", "agent.toml",
                  "--keyframes-per-minute", "4", "--layout", "yolov8", "--labels", "names.txt"])
    assert (args.report, args.config, args.keyframes_per_minute) == (Path("r"), Path("agent.toml"), 4.0)
    assert (args.layout, args.labels) == ("yolov8", "names.txt")  # the detector group, as in every command
