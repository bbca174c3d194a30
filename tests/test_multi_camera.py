"""Several cameras in one agent, with real processes: a collector and `edgelabel-agent run` with
one --source per camera over one CURVE connection, each camera its own device at the collector."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.spool import Spool
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, init_collector, start_collector

VIDEOS = DATA_DIR / "videos"
CAMERAS = {
    "pets": VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4",
    "lot": VIDEOS / "parking_lot_overhead_cars_intel.mp4",
    "tud": DATA_DIR / "mot" / "TUD-Campus" / "img1",  # an image directory
    "night": VIDEOS / "street_night_crowd_mmtracking_demo_8frames.mp4",
}


def collector_with_agent_key(tmp_path: Path, agent: str) -> tuple[Path, str, subprocess.Popen]:
    """A collector on a free port, with a key for the agent (``tmp_path/<agent>.toml``):
    its data directory, its endpoint and its process."""
    data_dir = tmp_path / "collector"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    init_collector(data_dir)
    subprocess.run([sys.executable, "-m", "server", "keys", "add-device", agent, "--data-dir", str(data_dir),
                    "--endpoint", endpoint, "--out", str(tmp_path / f"{agent}.toml")], check=True, capture_output=True)
    collector, _ = start_collector(data_dir, endpoint)
    return data_dir, endpoint, collector


def agent(credentials: Path, endpoint: str, spool_dir: Path, sources: dict[str, Path | str], *extra: str):
    flags = [arg for name, source in sources.items() for arg in ("--source", f"{name}={source}")]
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", *flags, "--model", str(MODEL_PATH), "--credentials", str(credentials),
         "--collector", endpoint, "--spool-dir", str(spool_dir), "--status-interval", "0.5", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_four_cameras_one_agent_each_its_own_device_and_a_missing_one_stops_alone(tmp_path):
    data_dir, endpoint, collector = collector_with_agent_key(tmp_path, "site-1")
    sources = {**CAMERAS, "gone": tmp_path / "deleted-before-start.mp4"}
    try:
        process = agent(tmp_path / "site-1.toml", endpoint, tmp_path / "spool", sources, "--min-gap", "0.5")
        stdout, stderr = process.communicate(timeout=240)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    assert process.returncode == 1, stderr[-2000:]  # one camera stopped early: said, and the exit code shows it
    assert "1 of 5 camera(s) stopped early: site-1/gone: no such file or directory" in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    cameras = summary["cameras"]
    assert cameras["gone"]["error"] and cameras["gone"]["frames_read"] == 0
    assert (cameras["pets"]["frames_read"], cameras["lot"]["frames_read"], cameras["tud"]["frames_read"],
            cameras["night"]["frames_read"]) == (795, 377, 71, 8)  # every file processed completely
    assert summary["acknowledged"] == summary["selected"] == summary["sent"] and summary["unacknowledged"] == 0

    with DataDir.open_readonly(data_dir) as store:
        frames = store.frame_rows()
        stats = store.stats()
    by_device = {}
    for frame in frames:
        by_device.setdefault(frame["device"], []).append(frame)
    assert set(by_device) == {f"site-1/{name}" for name in CAMERAS}
    for name in CAMERAS:
        device = f"site-1/{name}"
        assert len(by_device[device]) == cameras[name]["selected"] >= 1
        heartbeat = stats["devices"][device]["status"]
        assert heartbeat["frames_read"] == cameras[name]["frames_read"]
        assert heartbeat["model_id"] == summary["model"]
    sizes = {name: {(f["width"], f["height"]) for f in by_device[f"site-1/{name}"]} for name in CAMERAS}
    assert sizes == {"pets": {(480, 360)}, "lot": {(768, 432)}, "tud": {(640, 480)}, "night": {(1920, 1080)}}


@pytest.mark.slow
def test_a_dead_stream_is_retried_while_the_other_cameras_run(tmp_path):
    data_dir, endpoint, collector = collector_with_agent_key(tmp_path, "site-2")
    sources = {"dead": f"rtsp://127.0.0.1:{free_port()}/nothing", "tud": CAMERAS["tud"]}
    try:
        process = agent(tmp_path / "site-2.toml", endpoint, tmp_path / "spool", sources, "--min-gap", "0.3")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the file camera finishes while the stream is still retried
            with DataDir.open_readonly(data_dir) as store:
                status = store.stats()["devices"].get("site-2/tud", {}).get("status") or {}
            if status.get("frames_read") == 71:
                break
            time.sleep(0.5)
        assert process.poll() is None, "a live camera keeps the agent running"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    assert "camera dead: cannot open stream rtsp://" in stderr and "trying again in" in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["cameras"]["tud"]["frames_read"] == 71 and summary["cameras"]["tud"]["selected"] >= 1
    with DataDir.open_readonly(data_dir) as store:
        devices = {frame["device"] for frame in store.frame_rows()}
    assert devices == {"site-2/tud"}


@pytest.mark.slow
def test_collector_killed_mid_stream_loses_nothing_and_stores_nothing_twice_per_camera(tmp_path):
    data_dir, endpoint, collector = collector_with_agent_key(tmp_path, "site-3")
    spool_dir = tmp_path / "spool"
    sources = {"pets": CAMERAS["pets"], "lot": CAMERAS["lot"]}
    process = agent(tmp_path / "site-3.toml", endpoint, spool_dir, sources, "--pace", "4", "--min-gap", "0.5",
                    "--keyframes-per-minute", "0", "--ack-timeout", "0.5", "--flush-timeout", "90")
    try:
        for _ in range(2):
            time.sleep(2.5)
            collector.kill()  # SIGKILL mid-stream
            collector.wait()
            time.sleep(1.0)
            collector, _ = start_collector(data_dir, endpoint)
        stdout, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    spool = Spool(spool_dir, "site-3", max_bytes=2**30, first_seq=lambda: 0)
    assigned = set(range(spool.first_seq, spool.next_seq))
    assert spool.count == 0
    with DataDir.open_readonly(data_dir) as store:
        rows = store.frame_rows()
    stored = [row["seq"] for row in rows]
    assert sorted(stored) == sorted(assigned), "every selected frame stored exactly once"
    for name in sources:
        mine = [row for row in rows if row["device"] == f"site-3/{name}"]
        assert len(mine) == summary["cameras"][name]["selected"] > 5
        assert len({row["frame_index"] for row in mine}) == len(mine), f"camera {name}: a frame stored twice"
