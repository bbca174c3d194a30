"""Real processes: a collector (`python -m server serve`) and an agent (`python -m edge run`)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import zmq

from edge.contract.wire import decode_reply
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import init_collector, start_collector

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, **kwargs)


class Collector:
    """A collector process on a free loopback port; stopped with SIGTERM like a service manager would."""

    def __init__(self, data_dir: Path, *extra: str):
        self.process, self.endpoint = start_collector(data_dir, "tcp://127.0.0.1:*", *extra, stderr=subprocess.PIPE)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, stderr
        return stderr


@pytest.mark.slow
def test_agent_streams_prelabeled_keyframes_of_a_real_clip_into_the_collector(tmp_path):
    data_dir = tmp_path / "collector"
    credentials = tmp_path / "cam.toml"
    init_collector(data_dir)
    added = cli("-m", "server", "keys", "add-device", "pets-cam", "--data-dir", str(data_dir),
                "--endpoint", "tcp://127.0.0.1:5555", "--out", str(credentials))
    assert added.returncode == 0, added.stderr
    collector = Collector(data_dir)
    try:
        agent = cli("-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
                    "--credentials", str(credentials), "--collector", collector.endpoint, "--json",
                    "--spool-dir", str(tmp_path / "spool"), "--status-interval", "1")
    finally:
        collector_log = collector.stop()
    assert agent.returncode == 0, agent.stderr
    summary = json.loads(agent.stdout.strip().splitlines()[-1])
    assert summary["frames_read"] == 795
    assert summary["frames_detected"] == 795
    assert 10 <= summary["selected"] < 795 // 2
    assert summary["acknowledged"] == summary["sent"] == summary["selected"]
    assert "stored" in collector_log

    with DataDir.open_readonly(data_dir) as store:
        frames = store.frame_rows()
        stats = store.stats()
    assert len(frames) == summary["acknowledged"]
    assert {frame["device"] for frame in frames} == {"pets-cam"}
    assert stats["detections_by_class"].get("person", 0) > len(frames), "people walk through every part of this clip"
    heartbeat = stats["devices"]["pets-cam"]["status"]  # the collector accepted the agent's heartbeats
    assert heartbeat["model_id"].startswith("yolox_nano") and heartbeat["frames_read"] > 0
    for frame in frames:
        image = cv2.imread(str(data_dir / "media" / frame["media_sha256"][:2] / frame["media_sha256"][2:4]
                              / f"{frame['media_sha256']}.jpg"))
        assert image is not None and image.shape[:2] == (frame["height"], frame["width"]) == (360, 480)

    stats_cli = cli("-m", "server", "stats", "--data-dir", str(data_dir), "--json")
    assert stats_cli.returncode == 0, stats_cli.stderr
    assert json.loads(stats_cli.stdout)["totals"]["frames"] == len(frames)


def test_garbage_on_the_ingest_socket_is_rejected_and_the_collector_keeps_serving(tmp_path):
    data_dir = tmp_path / "collector"
    collector = Collector(data_dir, "--insecure")
    try:
        context = zmq.Context.instance()
        client = context.socket(zmq.DEALER)
        client.linger = 0
        client.connect(collector.endpoint)
        client.send_multipart([b"\x00garbage", b"more garbage"])
        assert client.poll(10_000)
        reply = decode_reply(client.recv())
        assert (reply.ok, reply.status) == (False, "bad_header")
        client.close()
        # A real agent afterwards is served normally.
        agent = cli("-m", "edge", "run", "--source", str(DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"),
                    "--model", str(MODEL_PATH), "--insecure", "--device", "night-cam",
                    "--collector", collector.endpoint, "--json", "--spool-dir", str(tmp_path / "spool"))
        assert agent.returncode == 0, agent.stderr
        assert json.loads(agent.stdout)["acknowledged"] >= 1
    finally:
        log = collector.stop()
    assert "INSECURE" in log
    with DataDir.open_readonly(data_dir) as store:
        stats = store.stats()
    assert stats["rejections"]["by_code"] == {"bad_header": 1}
    assert stats["totals"]["frames"] == json.loads(agent.stdout)["acknowledged"]


def test_agent_on_openvino_stores_frames_under_the_runtime_tagged_model_id(tmp_path):
    pytest.importorskip("openvino")
    data_dir = tmp_path / "collector"
    collector = Collector(data_dir, "--insecure")
    try:
        agent = cli("-m", "edge", "run", "--source", str(DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"),
                    "--model", str(MODEL_PATH), "--runtime", "openvino", "--threads", "2", "--insecure",
                    "--device", "night-cam", "--collector", collector.endpoint, "--json",
                    "--spool-dir", str(tmp_path / "spool"), "--status-interval", "0.2")
    finally:
        collector.stop()
    assert agent.returncode == 0, agent.stderr
    summary = json.loads(agent.stdout)
    assert summary["model"].startswith("yolox_nano-") and summary["model"].endswith("@ov-cpu-f32")
    assert "openvino" in summary["runtime"] and summary["acknowledged"] >= 1
    with DataDir.open_readonly(data_dir) as store:
        frames = store.frame_rows()
        heartbeat = store.stats()["devices"]["night-cam"]["status"]
    assert {frame["model_id"] for frame in frames} == {summary["model"]}
    assert heartbeat["model_id"] == summary["model"]


@pytest.mark.parametrize(
    "make_source, expected",
    [
        (lambda tmp: tmp / "missing.mp4", "no such file or directory"),
        (lambda tmp: _write(tmp / "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40), "corrupt.mp4"),
    ],
)
def test_bad_source_is_one_clear_line_and_a_nonzero_exit(tmp_path, make_source, expected):
    result = cli("-m", "edge", "run", "--source", str(make_source(tmp_path)), "--model", str(MODEL_PATH),
                 "--insecure", "--collector", "tcp://127.0.0.1:9")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and expected in error_lines[0]


def test_non_detector_model_is_one_clear_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["logits"])],
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
    )
    model_path = tmp_path / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model_path)
    result = cli("-m", "edge", "detect", "--model", str(model_path), str(DATA_DIR / "images" / "darknet_dog.jpg"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    # It names the shapes it found and the layouts it can run.
    assert "[1, 3]" in error_lines[0] and "yolox" in error_lines[0].lower()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_serve_on_postgresql_stores_a_real_agents_frames_and_every_command_reads_them(tmp_path, postgres_cluster):
    database = postgres_cluster.new_database()
    data_dir = tmp_path / "collector"  # media and keys stay here; the rows go to PostgreSQL
    collector = Collector(data_dir, "--insecure", "--database", database)
    try:
        agent = cli("-m", "edge", "run", "--source", str(DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"),
                    "--model", str(MODEL_PATH), "--insecure", "--device", "night-cam",
                    "--collector", collector.endpoint, "--json", "--spool-dir", str(tmp_path / "spool"))
    finally:
        collector.stop()
    assert agent.returncode == 0, agent.stderr
    acknowledged = json.loads(agent.stdout)["acknowledged"]
    assert acknowledged >= 1
    assert not (data_dir / "edgelabel.db").exists()

    stats = cli("-m", "server", "stats", "--data-dir", str(data_dir), "--database", database, "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["totals"]["frames"] == acknowledged
    added = cli("-m", "server", "users", "add", "alice", "--role", "reviewer", "--data-dir", str(data_dir),
                "--database", database, input="a long passphrase\n")
    assert added.returncode == 0, added.stderr
    listed = cli("-m", "server", "users", "list", "--data-dir", str(data_dir), "--database", database)
    assert "alice" in listed.stdout, listed.stderr
    exported = cli("-m", "server", "export", "yolo", "--data-dir", str(data_dir), "--database", database,
                   "--out", str(tmp_path / "yolo"), "--status", "all")
    assert exported.returncode == 0, exported.stderr
    assert len(list((tmp_path / "yolo").rglob("*.jpg"))) == acknowledged
    with DataDir.open_readonly(data_dir, database) as store:
        assert {frame["device"] for frame in store.frame_rows()} == {"night-cam"}
