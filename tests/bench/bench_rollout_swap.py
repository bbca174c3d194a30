"""Benchmark: the agent's side of a model swap, over CURVE on loopback.

A real ``edgelabel-agent run`` on pets09 (not paced: the detector sets the speed, so any stall
shows) sends to the in-test collector double of ``tests/edge/rollout_double.py``, which offers a
copy of the shared model under another name after ``--offer-after`` seconds. Reported:
  * offer -> ``running`` report, and offer -> first frame labeled by the new model at the collector;
  * bytes the download pulled (chunk headers and data) against the file's size;
  * the longest gap between heartbeats (every 0.1 s) in which the agent read no frame, from the
    offer to 5 s after the swap, against the longest before the offer; and the fps before, during
    (offer to swap) and after.
The collector's own part (``models deploy`` until the heartbeat that carries the offer) is the
status interval at most; the end-to-end number comes from the collector's benchmark.

    python tests/bench/bench_rollout_swap.py [--threads 2] [--offer-after 4]

Not a test: the machine is shared and noisy; read it as an order of magnitude.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.detection.model_file import model_id  # noqa: E402
from tests.conftest import DATA_DIR, MODEL_PATH  # noqa: E402
from tests.edge.rollout_double import RolloutCollector, offer_for, signed, wait_until  # noqa: E402
from tests.edge.rollout_models import variant  # noqa: E402

CLIP = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


def longest_idle(heartbeats, start: float, end: float) -> float:
    """Longest time between two heartbeats in [start, end] with the same frames_read."""
    beats = [(t, c.get("frames_read", 0)) for t, _, c in heartbeats if start <= t <= end]
    idle, since = 0.0, None
    for (t0, n0), (t1, n1) in zip(beats, beats[1:]):
        if n1 == n0:
            since = t0 if since is None else since
            idle = max(idle, t1 - since)
        else:
            since = None
    return idle


def fps(heartbeats, start: float, end: float) -> float:
    beats = [(t, c.get("frames_read", 0)) for t, _, c in heartbeats if start <= t <= end]
    if len(beats) < 2 or beats[-1][0] == beats[0][0]:
        return 0.0
    return (beats[-1][1] - beats[0][1]) / (beats[-1][0] - beats[0][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--offer-after", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        collector = RolloutCollector()
        new_model = variant(tmp_path)
        collector.serve_file(new_model)
        model_bytes = new_model.stat().st_size
        credentials = collector.credentials(tmp_path / "cam.toml")
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--source", str(CLIP), "--model", str(MODEL_PATH),
             "--credentials", str(credentials), "--spool-dir", str(tmp_path / "spool"), "--threads", str(args.threads),
             "--status-interval", "0.1", "--min-gap", "0.5", "--keyframes-per-minute", "0", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        try:
            wait_until(lambda: len(collector.heartbeats) > 5, "the agent's first heartbeats", process=agent)
            time.sleep(args.offer_after)
            offered = time.monotonic()
            collector.offer = signed(offer_for(new_model, deployment=1), collector.signing_key)
            wait_until(lambda: "running" in collector.outcomes(1), "the swap", process=agent)
            swapped = time.monotonic()
            new_id = model_id(new_model)
            wait_until(lambda: collector.frames_by(new_id), "a frame by the new model", process=agent)
            first_frame = next(t for t, f in zip(collector.frame_arrivals, collector.frames)
                               if f.model_id.startswith(new_id))
            time.sleep(5)
            agent.send_signal(signal.SIGTERM)
            agent.communicate(timeout=120)
        finally:
            if agent.poll() is None:
                agent.kill()
            collector.close()
    beats = collector.heartbeats
    result = {
        "offer_to_running_s": round(swapped - offered, 3),
        "offer_to_first_new_frame_s": round(first_frame - offered, 3),
        "download_bytes": collector.bytes_served,
        "model_bytes": model_bytes,
        "longest_idle_before_offer_s": round(longest_idle(beats, beats[0][0] + 1, offered), 3),
        "longest_idle_around_swap_s": round(longest_idle(beats, offered, swapped + 5), 3),
        "fps_before": round(fps(beats, offered - args.offer_after + 1, offered), 1),
        "fps_during_swap": round(fps(beats, offered, swapped), 1),
        "fps_after": round(fps(beats, swapped, swapped + 5), 1),
    }
    for key, value in result.items():
        print(f"{key:32} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
