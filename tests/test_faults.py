"""Faults with real processes: collector killed and restarted, a 30 s outage, agent killed and restarted.

Afterwards every frame the agent selected (every sequence number its spool handed out) is stored
exactly once, nothing is left in the spool, and the restarted agent did not reuse a track id of
its first run (the collector knows a track as device and track id).
"""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.spool import Spool
from server.datadir import DB_FILENAME, DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, init_collector, start_collector

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
OUTAGE_S = 30


def start_agent(credentials: Path, endpoint: str, spool_dir: Path) -> subprocess.Popen:
    # Replayed at 4x real time (about 20 s), sending a frame at most every 0.5 s of clip time.
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
         "--credentials", str(credentials), "--collector", endpoint, "--spool-dir", str(spool_dir),
         "--pace", "4", "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", "1", "--ack-timeout", "0.5",
         "--flush-timeout", "90", "--status-interval", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_nothing_lost_nothing_twice_through_collector_kills_an_outage_and_an_agent_kill(tmp_path):
    data_dir, spool_dir, credentials = tmp_path / "collector", tmp_path / "spool", tmp_path / "cam.toml"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    init_collector(data_dir)
    subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "cam", "--data-dir", str(data_dir),
                    "--endpoint", endpoint, "--out", str(credentials)], check=True, capture_output=True)
    collector, _ = start_collector(data_dir, endpoint)
    agent = start_agent(credentials, endpoint, spool_dir)
    tally = {"collector_sigkills": 0, "agent_sigkills": 0, "outage_s": OUTAGE_S}
    try:
        for _ in range(2):
            time.sleep(2.0)
            collector.kill()  # SIGKILL: no chance to finish a batch
            collector.wait()
            tally["collector_sigkills"] += 1
            collector, _ = start_collector(data_dir, endpoint)
        time.sleep(2.0)
        agent.kill()
        agent.wait()
        tally["agent_sigkills"] += 1
        agent = start_agent(credentials, endpoint, spool_dir)
        time.sleep(3.0)
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=30)
        time.sleep(OUTAGE_S)  # the agent goes on selecting and spooling meanwhile
        collector, _ = start_collector(data_dir, endpoint)
        stdout, stderr = agent.communicate(timeout=180)
    finally:
        for process in (agent, collector):
            if process.poll() is None:
                process.kill()
        collector.wait()
    assert agent.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["unacknowledged"] == 0 and summary["evicted"] == 0 and summary["rejected"] == 0

    spool = Spool(spool_dir, "cam", max_bytes=2**30, first_seq=lambda: 0)
    assigned = set(range(spool.first_seq, spool.next_seq))
    assert spool.count == 0, "frames left in the spool"
    with DataDir.open_readonly(data_dir) as store:
        stored = [row["seq"] for row in store.frame_rows() if row["device"] == "cam"]
        status = store.stats()["devices"]["cam"]["status"]
    tally.update(selected=len(assigned), stored=len(stored), retransmits=summary["retransmits"],
                 duplicate_acks=summary["duplicates"])
    print("fault tally:", json.dumps(tally))
    assert len(assigned) >= 10  # a real stream (both agent runs stored frames: see the track ids below)
    assert sorted(stored) == sorted(assigned)  # every selected frame, each exactly once
    assert status["spooled"] == 0
    first_run, second_run = track_ids_per_agent_run(data_dir)
    assert first_run and second_run
    assert not first_run & second_run, "the restarted agent reused track ids"


def track_ids_per_agent_run(data_dir: Path) -> tuple[set[int], set[int]]:
    """Track ids stored from the agent's first and second run: the replayed clip starts over, so
    the second run begins at the first frame whose index is lower than the one before it."""
    with sqlite3.connect(data_dir / DB_FILENAME) as db:
        rows = db.execute("SELECT f.seq, f.frame_index, d.track_id FROM frames f LEFT JOIN detections d "
                          "ON d.frame_id = f.id WHERE f.device = 'cam' ORDER BY f.seq").fetchall()
    runs: tuple[set[int], set[int]] = (set(), set())
    run, last_index = 0, -1
    for _seq, frame_index, track_id in rows:
        if frame_index < last_index:
            run = 1
        last_index = frame_index
        if track_id is not None:
            runs[run].add(track_id)
    return runs
