"""Benchmark: the whole agent's fps on pets09, per runtime and model, against today's default.

In the same run, for each configuration (``--config LABEL=MODEL[:RUNTIME[:PRECISION[:STREAMS]]]``,
repeatable; default: float32 on ONNX Runtime with one stream, as the agent ran before streams,
and with two; plus the int8 OpenVINO model with one and two streams when ``--int8-model`` names
one), alternating round by round:
  * detector only: ``Detector.detect`` over the pets09 frames, already decoded in memory, with
    as many frames in flight as the configuration has streams;
  * the agent: ``edgelabel-agent run`` on the same clip (decode, detect every frame, track,
    select, JPEG-encode, send over CURVE and wait for acks) against a real collector process.
Prints a table, the median fps of each, the agent's ratio to its own detector-only fps (does the
pipeline hide the other stages behind inference?) and to the float32 ONNX Runtime agent (the
speed-up a runtime or a quantized model buys the whole agent), then one JSON line.

    python tests/bench/bench_agent_fps.py [--rounds 3] [--threads 2] [--int8-model DIR/yolox_nano.int8.xml]
    python tests/bench/bench_agent_fps.py --config float32=MODEL --config bf16=MODEL:openvino:bf16:2

Not a test: the machine is shared and noisy, so read the medians and the ratios, not single runs.
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
from dataclasses import dataclass
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CLIP = SHARED / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
MODEL = SHARED / "models" / "yolox_nano.onnx"


@dataclass(frozen=True)
class Config:
    label: str
    model: Path
    runtime: str = "auto"
    precision: str = "f32"
    streams: int = 1

    @classmethod
    def parse(cls, text: str) -> "Config":
        label, _, spec = text.partition("=")
        model, *rest = spec.split(":")
        return cls(label, Path(model), *rest[:2], *(int(v) for v in rest[2:3]))


def detector_only_fps(detector, frames) -> float:
    import time
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    if detector.streams == 1:
        for image in frames:
            detector.detect(image)
    else:
        with ThreadPoolExecutor(detector.streams) as workers:
            list(workers.map(detector.detect, frames))
    return len(frames) / (time.perf_counter() - started)


def agent_fps(config: Config, endpoint: str, credentials: Path, threads: int, spool_dir: Path) -> dict:
    command = [sys.executable, "-m", "edge", "run", "--source", str(CLIP), "--model", str(config.model),
               "--runtime", config.runtime, "--precision", config.precision, "--streams", str(config.streams),
               "--credentials", str(credentials), "--collector", endpoint, "--json", "--quiet",
               "--threads", str(threads), "--spool-dir", str(spool_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="inference threads, the same for every configuration (default: %(default)s)")
    parser.add_argument("--int8-model", type=Path, default=None,
                        help="an int8 OpenVINO IR from quantize (bench_quantize.py --out-dir keeps one)")
    parser.add_argument("--config", action="append", default=None, metavar="LABEL=MODEL[:RUNTIME[:PRECISION]]")
    args = parser.parse_args()
    configs = [Config.parse(text) for text in args.config] if args.config else [
        Config("float32 onnxruntime, 1 stream", MODEL, "onnxruntime", "f32", 1),
        Config("float32 onnxruntime, 2 streams", MODEL, "onnxruntime", "f32", 2)]
    if args.int8_model is not None and not args.config:
        configs += [Config("int8 openvino, 1 stream", args.int8_model, "openvino", "f32", 1),
                    Config("int8 openvino, 2 streams", args.int8_model, "openvino", "f32", 2)]

    sys.path.insert(0, str(REPO))
    from edge.detection.runner import Detector
    from edge.detection.runtimes import RuntimeSettings

    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    detectors = [Detector(c.model, threads=args.threads,
                          runtime=RuntimeSettings(name=c.runtime, precision=c.precision, streams=c.streams))
                 for c in configs]

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "collector"
        credentials = Path(tmp) / "bench.toml"
        subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(data_dir)], check=True,
                       capture_output=True)
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
                for config, detector in zip(configs, detectors):  # interleaved, so drifts in load hit all
                    reference = detector_only_fps(detector, frames)
                    summary = agent_fps(config, endpoint, credentials, args.threads, Path(tmp) / "spool")
                    rows.append((config.label, round_index + 1, reference, summary["fps"], summary["selected"],
                                 summary["acknowledged"]))
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)

    print(f"pets09 clip, {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, {args.threads} inference "
          f"threads, {len(os.sched_getaffinity(0))} usable cores")
    width = max(len(c.label) for c in configs)
    print(f"{'config':<{width}} {'round':>5} {'detector-only fps':>18} {'agent fps':>10} {'ratio':>6} {'selected':>9} "
          f"{'acked':>6}")
    for label, number, reference, agent, selected, acked in rows:
        print(f"{label:<{width}} {number:>5} {reference:>18.1f} {agent:>10.1f} {agent / reference:>6.3f} {selected:>9} "
              f"{acked:>6}")
    results = []
    baseline = None
    for config in configs:
        mine = [row for row in rows if row[0] == config.label]
        median_reference = statistics.median(row[2] for row in mine)
        median_agent = statistics.median(row[3] for row in mine)
        baseline = baseline or median_agent
        print(f"{config.label}: median detector-only {median_reference:.1f} fps, agent {median_agent:.1f} fps "
              f"(agent/detector {median_agent / median_reference:.3f}; agent vs {configs[0].label} "
              f"{median_agent / baseline:.3f}x)")
        results.append({"config": config.label, "model": str(config.model), "runtime": config.runtime,
                        "precision": config.precision, "streams": config.streams, "detector_only_fps_median": round(median_reference, 2),
                        "agent_fps_median": round(median_agent, 2),
                        "agent_vs_detector": round(median_agent / median_reference, 4),
                        "agent_vs_first": round(median_agent / baseline, 4)})
    print(json.dumps({"bench": "agent_fps", "clip": CLIP.name, "frames": len(frames), "rounds": args.rounds,
                      "threads": args.threads, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
