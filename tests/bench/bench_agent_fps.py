"""Benchmark: does the agent's pipeline hide capture, encoding and sending behind inference?

In the same run, alternating rounds of:
  * detector only: ``OnnxDetector.detect`` over the pets09 frames, already decoded in memory;
  * the agent: ``edgelabel-agent run`` on the same clip (decode, detect every frame, select,
    JPEG-encode, send over CURVE and wait for acks) against a real collector process.
Prints a table, the median fps of each, and their ratio (target >= 0.9), then one JSON line,
for each inference thread count asked for (default: 1, and one per usable core). With one thread
the detector leaves a core to the other stages; with every core it is fastest, but on a small
CPU the other stages then compete with inference for the same cores.

    python tests/bench/bench_agent_fps.py [--rounds 3] [--threads 1 2]

Not a test: the machine is shared and noisy, so read the medians and the ratio, not single runs.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CLIP = SHARED / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
MODEL = SHARED / "models" / "yolox_nano.onnx"


def detector_only_fps(detector, frames) -> float:
    started = time.perf_counter()
    for image in frames:
        detector.detect(image)
    return len(frames) / (time.perf_counter() - started)


def agent_fps(endpoint: str, credentials: Path, threads: int, spool_dir: Path) -> dict:
    command = [sys.executable, "-m", "edge", "run", "--source", str(CLIP), "--model", str(MODEL),
               "--credentials", str(credentials), "--collector", endpoint, "--json", "--quiet",
               "--threads", str(threads), "--spool-dir", str(spool_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, len(os.sched_getaffinity(0))],
                        help="inference thread counts to measure, the same for both sides (default: %(default)s)")
    args = parser.parse_args()

    from edge.detection.runner import OnnxDetector

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    detectors = {threads: OnnxDetector(MODEL, intra_op_threads=threads) for threads in args.threads}

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "collector"
        credentials = Path(tmp) / "bench.toml"
        subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "bench-cam", "--data-dir", str(data_dir),
                        "--endpoint", "tcp://127.0.0.1:5555", "--out", str(credentials)], check=True, capture_output=True)
        collector = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", "tcp://127.0.0.1:*"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            select.select([collector.stdout], [], [], 30)
            endpoint = collector.stdout.readline().split()[2]
            rows = []
            for round_index in range(args.rounds):
                for threads, detector in detectors.items():  # interleaved, so drifts in load hit both
                    reference = detector_only_fps(detector, frames)
                    summary = agent_fps(endpoint, credentials, threads, Path(tmp) / "spool")
                    rows.append((threads, round_index + 1, reference, summary["fps"], summary["selected"],
                                 summary["acknowledged"]))
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)

    print(f"pets09 clip, {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
          f"{len(os.sched_getaffinity(0))} usable cores")
    print(f"{'threads':>7} {'round':>5} {'detector-only fps':>18} {'agent fps':>10} {'ratio':>6} {'selected':>9} {'acked':>6}")
    for threads, number, reference, agent, selected, acked in rows:
        print(f"{threads:>7} {number:>5} {reference:>18.1f} {agent:>10.1f} {agent / reference:>6.3f} {selected:>9} {acked:>6}")
    results = []
    for threads in args.threads:
        mine = [row for row in rows if row[0] == threads]
        median_reference = statistics.median(row[2] for row in mine)
        median_agent = statistics.median(row[3] for row in mine)
        ratio = median_agent / median_reference
        print(f"threads={threads}: median detector-only {median_reference:.1f} fps, agent {median_agent:.1f} fps, "
              f"ratio {ratio:.3f} (target >= 0.9)")
        results.append({"threads": threads, "detector_only_fps_median": round(median_reference, 2),
                        "agent_fps_median": round(median_agent, 2), "ratio": round(ratio, 4)})
    print(json.dumps({"bench": "agent_fps", "clip": CLIP.name, "frames": len(frames), "rounds": args.rounds,
                      "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
