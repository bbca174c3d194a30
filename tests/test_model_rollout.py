"""A model rollout end to end: a real collector (``serve`` over CURVE) and a real agent (``edge run``
on a shared clip, paced) streaming; a variant of the shared model is registered and deployed
mid-stream with the collector's command line. The agent takes the signed offer, downloads the file
over its CURVE connection and swaps it in between frames: frames after the swap carry the new
model id, none is lost or stored twice, track ids carry on, and ``models status`` shows it running."""

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from edge.spool import Spool
from server.cli import main as collector
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, init_collector, start_collector

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def variant(folder: Path) -> Path:
    """The shared model with one more metadata entry: another file and model id, the same boxes."""
    model = onnx.load(str(MODEL_PATH))
    onnx.helper.set_model_props(model, {"note": "rollout variant"})
    path = folder / "nano_v2.onnx"
    onnx.save(model, str(path))
    return path


def cli(*args: str) -> None:
    assert collector(list(args)) == 0


def stored_frames(data_dir: Path) -> list[dict]:
    """Every stored frame with its detections, in sequence order."""
    with DataDir.open_readonly(data_dir) as store:
        return sorted(store.iter_frames(), key=lambda frame: frame["seq"])


def wait_until(condition, what: str, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    """Poll ``condition``; fail naming ``what`` if the agent exits first (a bound against a hang, not a timing check)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"the agent exited ({process.returncode}) before: {what}"
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_model_deployed_mid_stream_is_swapped_in_between_frames_with_nothing_lost(tmp_path, capsys):
    data_dir = tmp_path / "collector"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    init_collector(data_dir)
    cli("keys", "add-device", "cam", "--data-dir", str(data_dir), "--endpoint", endpoint, "--out",
        str(tmp_path / "cam.toml"))
    capsys.readouterr()
    cli("models", "add", str(MODEL_PATH), "--data-dir", str(data_dir), "--json")
    original = json.loads(capsys.readouterr().out)["model_id"]
    cli("models", "add", str(variant(tmp_path)), "--data-dir", str(data_dir), "--json")
    new = json.loads(capsys.readouterr().out)["model_id"]
    log = (tmp_path / "collector.log").open("w")
    server, _ = start_collector(data_dir, endpoint, stderr=log)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
         "--credentials", str(tmp_path / "cam.toml"), "--spool-dir", str(tmp_path / "spool"), "--pace", "2",
         "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", "1", "--status-interval", "0.2",
         "--flush-timeout", "120", "--json"],
        stdout=subprocess.PIPE, stderr=(tmp_path / "agent.log").open("w"), text=True)
    try:
        def frames_by(model_id: str) -> int:
            return sum(frame["model_id"].startswith(model_id + "@") for frame in stored_frames(data_dir))

        wait_until(lambda: frames_by(original) >= 4, "frames by the first model", agent)
        cli("models", "deploy", "nano_v2", "--device", "cam", "--data-dir", str(data_dir))
        wait_until(lambda: frames_by(new) >= 4, "frames by the deployed model", agent)
        agent.send_signal(signal.SIGTERM)
        stdout, _ = agent.communicate(timeout=180)
        assert agent.returncode == 0, (tmp_path / "agent.log").read_text()[-3000:]
        summary = json.loads(stdout.strip().splitlines()[-1])
        capsys.readouterr()
        cli("models", "status", "--data-dir", str(data_dir), "--json")
        [status] = json.loads(capsys.readouterr().out)
    finally:
        if agent.poll() is None:
            agent.kill()
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
        log.close()

    # Every frame the agent kept is stored exactly once: the spool is empty and its sequence numbers
    # are the stored ones, with no gap.
    spool = Spool(tmp_path / "spool", "cam", max_bytes=2**30, first_seq=lambda: 0)
    selected = list(range(spool.first_seq, spool.next_seq))
    assert spool.count == 0
    spool.close()
    frames = stored_frames(data_dir)
    assert [frame["seq"] for frame in frames] == selected
    assert summary["unacknowledged"] == 0 and summary["selected"] == len(selected)
    # In frame order the first model labels the frames up to the swap, the deployed one every frame after it.
    runs = [weights for weights, _ in itertools.groupby(frame["model_id"].split("@")[0] for frame in frames)]
    assert runs == [original, new]
    assert [frame["frame_index"] for frame in frames] == sorted(frame["frame_index"] for frame in frames)
    # The tracker carried on through the swap: people tracked before it keep their ids after it.
    swap = next(i for i, frame in enumerate(frames) if frame["model_id"].startswith(new + "@"))
    tracks = [{d["track_id"] for d in frame["detections"] if d["track_id"] is not None and d["track_id"] >= 0}
              for frame in frames]
    assert set().union(*tracks[:swap]) & set().union(*tracks[swap:])
    # The collector saw the outcomes, and says where the device stands.
    deployment = status["deployment"]
    assert (status["device"], status["model"], deployment["state"]) == ("cam", "nano_v2", "running")
    assert [report["outcome"] for report in deployment["reports"]] == ["downloaded", "running"]
    assert deployment["previous_model_id"] == original
    assert "device cam: deployment 1 nano_v2 running" in (tmp_path / "collector.log").read_text()
