"""Prometheus metrics of the agent and the collector: the exposition text, and scrapes over real HTTP
from real processes."""

import json
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from types import SimpleNamespace

import pytest
import zmq
from prometheus_client import CollectorRegistry, generate_latest

from edge.agent_metrics import AgentMetrics
from edge.contract.metrics_http import MetricsServer
from edge.sender import SenderCounts
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, labels, value = SAMPLE.match(line).groups()
        label_pairs = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")))
        samples[(name, label_pairs)] = float(value)
    return samples


def agent_metrics(device: str, cameras: dict) -> AgentMetrics:
    sender = SenderCounts(sent=5, acknowledged=4, retransmits=1, rejected=Counter({"bad_signature": 2}))
    spool = SimpleNamespace(count=1, bytes=2048, evicted_total=0)
    return AgentMetrics(device, lambda: cameras, sender, spool)


def test_agent_exposition_keeps_names_types_help_and_labels():
    registry = CollectorRegistry()
    registry.register(agent_metrics("gate", {"cam \"x\"\\1\n": {"fps": 2.5, "frames_read": 10, "frames_dropped": 0,
                                                                 "selected": 3, "rejected_blur": 2}}))
    text = generate_latest(registry).decode()
    assert text.startswith(
        "# HELP edgelabel_agent_fps Frames per second through the pipeline since the start.\n"
        "# TYPE edgelabel_agent_fps gauge\n"
        'edgelabel_agent_fps{device="cam \\"x\\"\\\\1\\n"} 2.5\n'
        "# HELP edgelabel_agent_frames_read_total Frames read from the source.\n"
        "# TYPE edgelabel_agent_frames_read_total counter\n"
    )
    assert '\nedgelabel_agent_frames_rejected_total{device="cam \\"x\\"\\\\1\\n",flaw="blur"} 2.0\n' in text
    assert "\n# TYPE edgelabel_agent_spool_bytes gauge\nedgelabel_agent_spool_bytes{device=\"gate\"} 2048.0\n" in text
    assert ('\n# TYPE edgelabel_agent_rejected_by_collector_total counter\n'
            'edgelabel_agent_rejected_by_collector_total{code="bad_signature",device="gate"} 2.0\n') in text
    assert "_created" not in text  # counters read from state have no creation time


def test_each_agent_serves_its_own_registry():
    first = MetricsServer("127.0.0.1:0", agent_metrics("first", {}))
    second = MetricsServer("127.0.0.1:0", agent_metrics("second", {}))
    try:
        assert scrape(first.url)[("edgelabel_agent_sent_total", (("device", "first"),))] == 5
        assert ("edgelabel_agent_sent_total", (("device", "first"),)) not in scrape(second.url)
        with pytest.raises(OSError):  # the port is taken
            MetricsServer(first.url.split("/")[2], agent_metrics("third", {}))
    finally:
        first.stop()
        second.stop()
    with pytest.raises(OSError):  # stopped: nothing listens any more
        scrape(first.url)


@pytest.mark.slow
def test_agent_and_collector_metrics_match_what_they_report(tmp_path):
    data_dir = tmp_path / "collector"
    collector = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", "tcp://127.0.0.1:*",
         "--insecure", "--metrics", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        select.select([collector.stdout], [], [], 30)
        endpoint = collector.stdout.readline().split()[2]
        collector_url = collector.stdout.readline().split()[2]
        # One malformed message, so a rejection shows in both places.
        client = zmq.Context.instance().socket(zmq.DEALER)
        client.linger = 0
        client.connect(endpoint)
        client.send_multipart([b"not json", b"x"])
        assert client.poll(10_000)
        client.recv()
        client.close()

        agent_port = free_port()
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--source",
             str(DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"), "--model", str(MODEL_PATH),
             "--insecure", "--device", "night-cam", "--collector", endpoint, "--spool-dir", str(tmp_path / "spool"),
             "--pace", "0.5", "--min-gap", "0", "--metrics", f"127.0.0.1:{agent_port}", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        agent_samples = None
        deadline = time.monotonic() + 60
        while agent.poll() is None and time.monotonic() < deadline:
            try:
                agent_samples = scrape(f"http://127.0.0.1:{agent_port}/metrics")
                if agent_samples[("edgelabel_agent_frames_read_total", (("device", "night-cam"),))] >= 2:
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        stdout, stderr = agent.communicate(timeout=120)
        assert agent.returncode == 0, stderr[-2000:]
        assert agent_samples is not None, "the agent never served its metrics"
        label = (("device", "night-cam"),)
        assert agent_samples[("edgelabel_agent_frames_read_total", label)] >= 2
        assert ("edgelabel_agent_spooled_frames", label) in agent_samples
        assert ("edgelabel_agent_fps", label) in agent_samples

        samples = scrape(collector_url)
        stats = json.loads(subprocess.run([sys.executable, "-m", "server", "stats", "--data-dir", str(data_dir),
                                           "--json"], capture_output=True, text=True, check=True).stdout)
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.communicate(timeout=30)
    assert samples[("edgelabel_frames_total", ())] == stats["totals"]["frames"] == json.loads(stdout)["acknowledged"]
    assert samples[("edgelabel_detections_total", ())] == stats["totals"]["detections"]
    assert samples[("edgelabel_rejections_total", (("code", "bad_header"),))] == stats["rejections"]["by_code"]["bad_header"] == 1
    assert samples[("edgelabel_device_frames_total", (("device", "night-cam"),))] == stats["devices"]["night-cam"]["frames"]
    for status, count in stats["frames_by_status"].items():
        assert samples[("edgelabel_frames_by_status", (("status", status),))] == count
    assert samples[("edgelabel_ingest_messages_total", ())] >= stats["totals"]["frames"] + 1


def test_missed_tracks_are_exposed_per_camera_and_zero_until_a_heartbeat_carries_them():
    registry = CollectorRegistry()
    registry.register(agent_metrics("gate", {
        "gate/a": {"fps": 2.5, "frames_read": 10, "frames_dropped": 0, "selected": 3},
        "gate/b": {"fps": 1.0, "frames_read": 5, "frames_dropped": 0, "selected": 1, "missed_tracks": 4}}))
    text = generate_latest(registry).decode()
    assert ('# TYPE edgelabel_agent_missed_tracks_total counter\n'
            'edgelabel_agent_missed_tracks_total{device="gate/a"} 0.0\n'
            'edgelabel_agent_missed_tracks_total{device="gate/b"} 4.0\n') in text
