"""A real agent (`python -m edge run`) on a shared clip takes a rollout mid-stream: it swaps the
model between frames and back again, and a restart starts on the accepted model without a collector."""

from __future__ import annotations

import dataclasses
import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.contract.downloads import sha256_of
from edge.contract.wire import NO_TRACK, decode_frame
from edge.detection.model_file import model_id
from edge.rollout.store import ModelStore
from edge.spool import Spool
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.edge.rollout_double import RolloutCollector, offer_for, signed, wait_until
from tests.edge.rollout_models import variant
from tests.helpers import free_port

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
TUD = DATA_DIR / "mot" / "TUD-Campus" / "img1"


def start_agent(tmp_path: Path, credentials: Path, *extra: str, pace: float = 2) -> subprocess.Popen:
    """The agent on an 80 s clip replayed at ``pace``: long enough for the test to stop it (SIGTERM)."""
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
         "--credentials", str(credentials), "--spool-dir", str(tmp_path / "spool"), "--pace", str(pace),
         "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", "1", "--status-interval", "0.2",
         "--json", *extra],
        stdout=subprocess.PIPE, stderr=open(tmp_path / "agent.log", "w"), text=True)


def stop_agent(agent: subprocess.Popen) -> dict:
    agent.send_signal(signal.SIGTERM)
    stdout, _ = agent.communicate(timeout=120)
    assert agent.returncode == 0, stdout
    return json.loads(stdout.strip().splitlines()[-1])


def test_an_offer_mid_stream_swaps_the_model_between_frames_and_a_rollback_downloads_nothing(tmp_path):
    collector = RolloutCollector()
    v2 = variant(tmp_path)
    collector.serve_file(v2)
    original, new = model_id(MODEL_PATH), model_id(v2)
    agent = start_agent(tmp_path, collector.credentials(tmp_path / "cam.toml"))
    try:
        wait_until(lambda: len(collector.frames_by(original)) >= 4, "frames by the first model", process=agent)
        collector.offer = signed(offer_for(v2, deployment=7), collector.signing_key)
        wait_until(lambda: "running" in collector.outcomes(7), "the swap", process=agent)
        wait_until(lambda: len(collector.frames_by(new)) >= 4, "frames by the new model", process=agent)
        # Rollback: an active offer of the earlier model (the file the agent started with).
        rollback = dataclasses.replace(offer_for(MODEL_PATH, deployment=8), file_name="yolox_nano.onnx")
        collector.offer = signed(rollback, collector.signing_key)
        wait_until(lambda: "running" in collector.outcomes(8), "the rollback", process=agent)
        swapped_back = len(collector.frames)
        wait_until(lambda: len(collector.frames) >= swapped_back + 4, "frames after the rollback", process=agent)
        summary = stop_agent(agent)
        log = (tmp_path / "agent.log").read_text()
        stored, heartbeats = list(collector.frames), list(collector.statuses)
        # Restarted while the collector still offers the rollback (as if its report was lost): the
        # agent starts on it, says so again, and neither downloads nor swaps anything.
        chunks = sum(collector.chunks_served.values())
        restarted = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--source", str(TUD), "--image-fps", "10", "--pace", "1",
             "--model", str(v2), "--credentials", str(tmp_path / "cam.toml"), "--spool-dir", str(tmp_path / "spool"),
             "--threads", "1", "--status-interval", "0.2", "--json"], capture_output=True, text=True, timeout=300)
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.close()
    assert restarted.returncode == 0, restarted.stderr
    again = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert again["model"].startswith(original + "@") and "model_swaps" not in again
    assert collector.outcomes(8) == ["running", "running"] and sum(collector.chunks_served.values()) == chunks

    assert collector.outcomes(7) == ["downloaded", "running"]
    assert collector.outcomes(8)[0] == "running"  # from the model store: no download
    assert collector.chunks_served[sha256_of(MODEL_PATH)] == 0
    # Every frame stored once, none missing: the spool's sequence numbers run on without a gap.
    seqs = [frame.seq for frame in stored]
    assert collector.duplicates == 0 and sorted(seqs) == list(range(seqs[0], seqs[0] + len(seqs)))
    assert summary["selected"] == summary["acknowledged"] == len(seqs) and summary["unacknowledged"] == 0
    # In frame order, the model ids run first model -> new model -> first model, each frame labeled by one.
    frames = sorted(stored, key=lambda frame: frame.seq)
    runs = [weights for weights, _ in itertools.groupby(frame.model_id.split("@")[0] for frame in frames)]
    assert runs == [original, new, original]
    assert [frame.frame_index for frame in frames] == sorted(frame.frame_index for frame in frames)
    # The tracker carried on: people tracked before the swap keep their ids after it.
    first_new = next(i for i, frame in enumerate(frames) if frame.model_id.startswith(new))
    before = {t for frame in frames[:first_new] for t in frame.labels.track_id} - {NO_TRACK}
    after = {t for frame in frames if frame.model_id.startswith(new) for t in frame.labels.track_id} - {NO_TRACK}
    assert before & after
    # Heartbeats name the running model too.
    assert [weights for weights, _ in itertools.groupby(status.split("@")[0] for status in heartbeats)] == [
        original, new, original]
    assert summary["model"].startswith(original) and summary["model_swaps"] == 2
    assert log.count("swapped") == 2

    store = ModelStore(tmp_path / "spool" / "models")
    assert (store.current.deployment, store.current.model_id) == (8, original)
    assert store.previous.model_id == new  # the last good model, kept for the next rollback


@pytest.mark.parametrize("stored_file", ["intact", "missing"])
def test_a_restart_starts_on_the_accepted_model_without_any_collector(tmp_path, stored_file):
    v2 = variant(tmp_path)
    store = ModelStore(tmp_path / "models")
    offer = offer_for(v2, deployment=3)
    store.file_for(offer).parent.mkdir(parents=True)
    store.file_for(offer).write_bytes(v2.read_bytes())
    store.accept(offer, running=MODEL_PATH)
    if stored_file == "missing":
        store.file_for(offer).unlink()
    # Nothing listens at the collector's address; the frames stay spooled.
    agent = subprocess.run(
        [sys.executable, "-m", "edge", "run", "--source", str(TUD), "--image-fps", "10", "--model", str(MODEL_PATH),
         "--insecure", "--device", "cam", "--collector", f"tcp://127.0.0.1:{free_port()}", "--threads", "1",
         "--spool-dir", str(tmp_path / "spool"), "--model-store", str(tmp_path / "models"),
         "--flush-timeout", "0", "--json"],
        capture_output=True, text=True, timeout=300)
    summary = json.loads(agent.stdout.strip().splitlines()[-1])
    assert summary["frames_read"] == 71 and summary["unacknowledged"] == summary["selected"] > 0
    spool = Spool(tmp_path / "spool", "cam", max_bytes=1 << 30, first_seq=lambda: 1)
    spooled = [decode_frame(parts)[0].model_id for _, parts in spool.after(0, limit=1000)]
    spool.close()
    assert len(spooled) == summary["selected"] and set(spooled) == {summary["model"]}
    if stored_file == "intact":
        assert summary["model"].startswith(model_id(v2) + "@")
        assert "starting on the model last accepted by a rollout" in agent.stderr
    else:  # the store lost its file: --model runs, and says why
        assert summary["model"].startswith(model_id(MODEL_PATH) + "@")
        assert "cannot be loaded" in agent.stderr and "starting on --model" in agent.stderr
