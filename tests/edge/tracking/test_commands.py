"""``edgelabel-agent track`` and ``mot-eval`` on real frames, with the real model."""

import json
import re

import pytest

from edge.cli import main
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.edge.tracking.test_tud_campus_regression import BASELINE

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus"
GT_FILE = TUD_CAMPUS / "gt" / "gt.txt"
MOT_LINE = re.compile(r"^(\d+),(\d+),(-?[\d.]+),(-?[\d.]+),([\d.]+),([\d.]+),([\d.]+),-1,-1,-1$")


def track(tmp_path, *extra):
    out = tmp_path / "tud.txt"
    code = main(["track", "--source", str(TUD_CAMPUS / "img1"), "--model", str(MODEL_PATH), "--mot-out", str(out),
                 "--threads", "1", "--no-progress", "--quiet", "--json", *extra])
    return code, out


def test_track_with_detect_every_2_writes_a_scored_mot_file(tmp_path, capsys):
    code, out = track(tmp_path, "--classes", "person", "--detect-every", "2")
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 71 and summary["frames_detected"] == 36
    lines = out.read_text().splitlines()
    assert len(lines) == summary["boxes"] > 0
    parsed = [MOT_LINE.match(line) for line in lines]
    assert all(parsed), "every line is frame,id,x,y,w,h,score,-1,-1,-1"
    frames = {int(m.group(1)) for m in parsed}
    assert min(frames) == 1 and max(frames) == 71  # 1-based, predicted frames included
    assert [p.name for p in tmp_path.iterdir()] == ["tud.txt"]  # no temporary file left

    assert main(["mot-eval", "--gt", str(GT_FILE), "--results", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    floor = BASELINE["detect_every"]["2"]["idf1"] - BASELINE["tolerance"]
    assert metrics["idf1"] >= floor and metrics["frames"] == 71


def test_mot_eval_prints_a_table(capsys):
    assert main(["mot-eval", "--gt", str(GT_FILE), "--results", str(DATA_DIR / "mot" / "results" / "TUD-Campus.txt")]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^MOTA\s+0\.526$", table, re.M) and re.search(r"^IDF1\s+0\.558$", table, re.M)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--classes", "persn"], "unknown class 'persn'"),
        (["--detect-every", "0"], "--detect-every must be at least 1"),
    ],
)
def test_track_errors_are_one_line(tmp_path, capsys, extra, message):
    code, out = track(tmp_path, *extra)
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not out.exists()


def test_mot_eval_of_a_broken_file_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.txt"
    broken.write_text("1,1,10,10\n")
    assert main(["mot-eval", "--gt", str(GT_FILE), "--results", str(broken)]) == 2
    assert "broken.txt:1: expected at least 7" in capsys.readouterr().err
