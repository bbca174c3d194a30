"""Benchmark: one agent for four cameras against four single-camera agents run at once.

In the same run, alternating round by round, on four shared clips (pets09 480x360, the parking lot
and the indoor camera 768x432, the highway camera 320x240) against one real collector process
(insecure, on loopback):
  * fleet of one: ``edgelabel-agent run --source a=... --source b=... ...`` (one detector session,
    frames of the cameras batched, one spool and one connection);
  * four agents: four ``edgelabel-agent run --source ...`` processes started together.
Both use the same model, threads and streams settings. Reported: aggregate fps (frames of all
cameras over the wall time until the last camera's clip is done) and memory (the peak resident
set of the one agent, against the sum of the four agents' peaks, sampled from /proc every 0.1 s).

    python tests/bench/bench_fleet.py [--rounds 3] [--model MODEL]

Targets (issue 17): at least 1.25x the aggregate fps, at most 40% of the memory.
Not a test: prints a table and one JSON line; read the medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
VIDEOS = SHARED / "data" / "videos"
CLIPS = {
    "pets": VIDEOS / "pets09_s2l1_pedestrians_vtest_480x360.mp4",
    "lot": VIDEOS / "parking_lot_overhead_cars_intel.mp4",
    "indoor": VIDEOS / "indoor_people_one_by_one_intel.mp4",
    "highway": VIDEOS / "highway_cam_traffic_bgslibrary_video02.avi",
}


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_agents(commands: list[list[str]]) -> tuple[float, int, int]:
    """Start the commands together; (wall seconds, frames read in all, sum of peak RSS in KiB)."""
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for command in commands]
    peaks = [0] * len(processes)
    while any(p.poll() is None for p in processes):
        for index, process in enumerate(processes):
            peaks[index] = max(peaks[index], rss_kib(process.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    frames = 0
    for process in processes:
        summary = json.loads(process.stdout.read().strip().splitlines()[-1])
        frames += summary["frames_read"]
    return wall, frames, sum(peaks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        collector = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--data-dir", str(Path(tmp) / "collector"),
             "--ingest", "tcp://127.0.0.1:*", "--insecure"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        select.select([collector.stdout], [], [], 30)
        endpoint = collector.stdout.readline().split()[2]

        def command(spool: str, device: str, *sources: str) -> list[str]:
            flags = [arg for source in sources for arg in ("--source", source)]
            return [sys.executable, "-m", "edge", "run", *flags, "--model", str(args.model), "--insecure",
                    "--device", device, "--collector", endpoint, "--json", "--quiet", "--threads",
                    str(args.threads), "--spool-dir", str(Path(tmp) / spool)]

        rows = []
        try:
            for round_index in range(args.rounds):
                fleet = command(f"fleet-{round_index}", "site", *(f"{n}={p}" for n, p in CLIPS.items()))
                singles = [command(f"{n}-{round_index}", f"single-{n}", str(p)) for n, p in CLIPS.items()]
                for label, commands in (("one agent, 4 cameras", [fleet]), ("4 agents, 1 camera each", singles)):
                    wall, frames, peak_kib = run_agents(commands)
                    rows.append((label, round_index + 1, frames / wall, peak_kib / 1024, wall, frames))
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)

    print(f"4 clips ({', '.join(CLIPS)}), {args.model.name}, {args.threads} inference threads per agent")
    print(f"{'configuration':<24} {'round':>5} {'aggregate fps':>13} {'peak RSS MiB':>12} {'wall s':>7} {'frames':>7}")
    for label, number, fps, mib, wall, frames in rows:
        print(f"{label:<24} {number:>5} {fps:>13.1f} {mib:>12.0f} {wall:>7.1f} {frames:>7}")
    medians = {}
    for label in ("one agent, 4 cameras", "4 agents, 1 camera each"):
        mine = [row for row in rows if row[0] == label]
        medians[label] = (statistics.median(r[2] for r in mine), statistics.median(r[3] for r in mine))
    fleet_fps, fleet_mib = medians["one agent, 4 cameras"]
    single_fps, single_mib = medians["4 agents, 1 camera each"]
    print(f"median: one agent {fleet_fps:.1f} fps in {fleet_mib:.0f} MiB; four agents {single_fps:.1f} fps in "
          f"{single_mib:.0f} MiB; fps ratio {fleet_fps / single_fps:.2f}x (target >= 1.25), memory ratio "
          f"{fleet_mib / single_mib:.2f} (target <= 0.40)")
    print(json.dumps({"bench": "fleet", "clips": list(CLIPS), "model": args.model.name, "rounds": args.rounds,
                      "threads": args.threads,
                      "fleet": {"fps_median": round(fleet_fps, 2), "peak_rss_mib_median": round(fleet_mib, 1)},
                      "singles": {"fps_median": round(single_fps, 2), "peak_rss_mib_median": round(single_mib, 1)},
                      "fps_ratio": round(fleet_fps / single_fps, 3), "memory_ratio": round(fleet_mib / single_mib, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
