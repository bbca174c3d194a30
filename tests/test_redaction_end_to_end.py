"""Redaction between real processes: an agent (`python -m edge run --redact faces`), its spool on
disk, and a collector (`python -m server serve`) that requires redaction from the device."""

import json
import sqlite3
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.redaction.centerface import CenterFace
from edge.redaction.face_model import resolve_face_model
from server.datadir import DataDir
from server.review.queue import ReviewQueue
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, init_collector, start_collector

TUD_DIR = DATA_DIR / "mot" / "TUD-Campus" / "img1"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def faces():
    return CenterFace(resolve_face_model(progress=False))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Every 6th TUD-Campus frame (people walking towards the camera, faces visible), a second apart."""
    folder = tmp_path_factory.mktemp("tud")
    for path in sorted(TUD_DIR.glob("*.jpg"))[::6]:
        (folder / path.name).symlink_to(path)
    return folder


def agent(source, credentials, endpoint, spool, *extra):
    result = cli("-m", "edge", "run", "--source", source, "--image-fps", 1, "--model", MODEL_PATH,
                 "--credentials", credentials, "--collector", endpoint, "--spool-dir", spool, "--json", "-q",
                 # Every frame kept (one a second): no budget, a heartbeat frame at least every 0.9 s.
                 "--min-gap", 0.5, "--max-gap", 0.9, "--keyframes-per-minute", 0, "--megabytes-per-hour", 0, *extra)
    assert "Traceback" not in result.stderr, result.stderr
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def faces_in(faces, jpegs_by_index, source) -> tuple[int, int]:
    """Faces CenterFace finds in the original frames and in the JPEGs that left them behind."""
    originals = sorted(source.glob("*.jpg"))
    before = after = 0
    for index, jpeg in jpegs_by_index:
        before += len(faces.detect(cv2.imread(str(originals[index]))))
        after += len(faces.detect(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)))
    return before, after


@pytest.mark.slow
def test_a_collector_requiring_redaction_refuses_plain_frames_and_no_face_reaches_disk_unblurred(
        tmp_path, source, faces):
    data_dir, credentials, spool = tmp_path / "collector", tmp_path / "cam.toml", tmp_path / "spool"
    init_collector(data_dir)
    added = cli("-m", "server", "keys", "add-device", "tud-cam", "--data-dir", data_dir,
                "--endpoint", "tcp://127.0.0.1:5555", "--out", credentials, "--require-redaction", "faces")
    assert added.returncode == 0 and "must be redacted: faces" in added.stdout, added.stderr
    collector, endpoint = start_collector(data_dir, "tcp://127.0.0.1:*")
    try:
        # 1. An agent that does not redact: every frame is refused with the typed code, nothing stored.
        plain, summary = agent(source, credentials, endpoint, tmp_path / "plain-spool", "--flush-timeout", 20)
        assert plain.returncode == 1 and summary["selected"] >= 10
        assert summary["rejected_by_code"] == {"redaction_required": summary["selected"]}
        collector.terminate()
        collector.wait(timeout=30)

        # 2. The agent redacts, with the collector down: the frames wait in the spool. Its bytes on
        # disk hold the redacted pictures only.
        offline, spooled = agent(source, credentials, f"tcp://127.0.0.1:{free_port()}", spool, "--redact", "faces",
                                 "--flush-timeout", 0)
        assert offline.returncode == 1 and spooled["unacknowledged"] == spooled["selected"] >= 10
        with sqlite3.connect(spool / "spool.db") as db:
            rows = db.execute("SELECT header, jpeg FROM frames ORDER BY seq").fetchall()
        db.close()
        headers = [json.loads(header) for header, _ in rows]
        assert len(rows) == spooled["selected"] and all("faces" in h["redactions"] for h in headers)
        before, after = faces_in(faces, [(h["frame_index"], jpeg) for h, (_, jpeg) in zip(headers, rows)], source)
        assert before >= 2 * len(rows) and after <= 0.05 * before, (before, after)

        # 3. The collector is back: the spooled frames and a new run's are accepted.
        collector, endpoint = start_collector(data_dir, "tcp://127.0.0.1:*")
        redacting, sent = agent(source, credentials, endpoint, spool, "--redact", "faces", "--flush-timeout", 30)
        assert redacting.returncode == 0, redacting.stderr
        assert sent["acknowledged"] == sent["selected"] + spooled["selected"] and sent["rejected"] == 0
    finally:
        collector.terminate()
        collector.wait(timeout=30)

    with DataDir.open_readonly(data_dir) as store:
        frames = store.frame_rows()
    assert len(frames) == sent["acknowledged"]
    stored = []
    for frame in frames:
        redactions = json.loads(frame["redactions"])
        assert set(redactions) == {"faces"}
        digest = frame["media_sha256"]
        stored.append((frame["frame_index"], (data_dir / "media" / digest[:2] / digest[2:4] / f"{digest}.jpg").read_bytes()))
    before, after = faces_in(faces, stored, source)
    assert before >= 2 * len(stored) and after <= 0.05 * before, (before, after)

    stats = json.loads(cli("-m", "server", "stats", "--data-dir", data_dir, "--json").stdout)
    assert stats["rejections"]["by_code"] == {"redaction_required": summary["selected"]}
    assert stats["redactions"]["frames"] == len(frames)
    assert stats["redactions"]["by_kind"]["faces"] == sum(json.loads(f["redactions"])["faces"] for f in frames) > 0
    text = cli("-m", "server", "stats", "--data-dir", data_dir).stdout
    assert f"rejected: redaction_required {summary['selected']}" in text and "redacted on the device" in text
    with ReviewQueue.open(data_dir) as queue:  # what the frame page shows as "faces blurred: N"
        assert queue.frame(frames[0]["id"])["redactions"] == json.loads(frames[0]["redactions"])
