"""SIGTERM, as a service manager sends it, to the agent and to the collector during a stream:
both finish what they hold, nothing is lost, and the spool and the database agree afterwards."""

import json
import signal
import subprocess
import sys
import time

import pytest

from edge.spool import Spool
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, start_collector

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def agent_command(endpoint, spool_dir):
    return [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
            "--insecure", "--device", "cam", "--collector", endpoint, "--spool-dir", str(spool_dir),
            "--pace", "4", "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", "1",
            "--ack-timeout", "0.5", "--flush-timeout", "60", "--json"]


@pytest.mark.slow
def test_sigterm_to_agent_and_collector_mid_stream_loses_nothing(tmp_path):
    data_dir, spool_dir = tmp_path / "collector", tmp_path / "spool"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    collector, _ = start_collector(data_dir, endpoint, "--insecure")
    agent = subprocess.Popen(agent_command(endpoint, spool_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        time.sleep(4.0)
        agent.send_signal(signal.SIGTERM)  # stop reading; spool and send what was selected
        stdout, stderr = agent.communicate(timeout=90)
        assert agent.returncode == 0, stderr[-2000:]
        first_run = json.loads(stdout.strip().splitlines()[-1])
        assert first_run["frames_read"] < 795, "the agent stopped early, as asked"

        agent = subprocess.Popen(agent_command(endpoint, spool_dir), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(4.0)
        collector.send_signal(signal.SIGTERM)  # finish the batch at hand, exit cleanly
        collector.wait(timeout=30)
        assert collector.returncode == 0
        time.sleep(2.0)  # the agent goes on spooling meanwhile
        collector, _ = start_collector(data_dir, endpoint, "--insecure")
        time.sleep(2.0)
        agent.send_signal(signal.SIGTERM)
        stdout, stderr = agent.communicate(timeout=90)
        assert agent.returncode == 0, stderr[-2000:]
    finally:
        for process in (agent, collector):
            if process.poll() is None:
                process.kill()
                process.wait()
    collector.send_signal(signal.SIGTERM)
    collector.wait(timeout=30)

    spool = Spool(spool_dir, "cam", max_bytes=2**30, first_seq=lambda: 0)
    assigned = set(range(spool.first_seq, spool.next_seq))
    assert spool.count == 0
    with DataDir.open_readonly(data_dir) as store:
        stored = [row["seq"] for row in store.frame_rows() if row["device"] == "cam"]
    assert len(assigned) >= 10
    assert sorted(stored) == sorted(assigned)
