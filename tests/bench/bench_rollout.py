"""Benchmark: a model rollout end to end, with the real collector and a real agent over CURVE on loopback.

Each round starts from nothing: ``init``, ``keys add-device cam``, ``models add`` of the shared model
and of a variant of it (another file and model id, the same weights), ``serve`` (CURVE, SQLite data
directory), and ``python -m edge run`` streaming pets09 paced (``--pace``: 10 fps x pace; 0: as fast as
the detector goes) with the
shared model. Once the agent has read ``--deploy-at`` frames, ``models deploy nano_v2 --device cam``
runs as a command. Reported per round and as medians:

  * deploy -> first stored frame by the new model: from the ``models deploy`` command returning to
    the first frame with the new model id in the database (polled every 0.1 s); beside it the
    collector's own timeline (the ``downloaded`` and ``running`` reports' receive times) and the
    agent's (its log lines ``downloading``, ``smoke test passed`` and ``swapped``, timed as they are read).
    The command's process commits the deployment before it prints and exits (``deploy_command_s`` is
    its whole run), so a heartbeat can fetch the offer before it returns: negative times.
    The offer rides on the reply to the agent's next heartbeat, so ``--status-interval`` (1 s here,
    10 s by default) bounds the wait before anything happens;
  * bytes on the wire: the TCP payload the collector delivered to and received from the agent on
    the connection the agent's rollout thread opens for the download (``ss -ti``'s bytes_acked /
    bytes_received of the collector's socket that appeared after the deploy: ZMTP framing, CURVE
    boxes, chunk requests and reports included; segments TCP sent again are counted apart),
    against the model file's size;
  * agent fps and the longest stall: the agent's Prometheus counters (``--metrics``) scraped every
    50 ms; a frame counts as processed when it was read and not dropped. The longest stall is the
    time between two scrapes that saw the processed count move, from the deploy until 5 s after the
    swap, against the same before the deploy (the paced source's own spacing is 1 / (10 x pace) s;
    the scrape interval is the resolution). fps before,
    during (deploy -> swap) and after (the 5 s after the swap).

    python tests/bench/bench_rollout.py [--rounds 3] [--pace 2] [--deploy-at 120] [--markdown FILE]

Not a test: the machine is shared and noisy; read it as an order of magnitude.
"""

from __future__ import annotations

import argparse
import json
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from server.datadir import DataDir  # noqa: E402
from tests.conftest import DATA_DIR, MODEL_PATH  # noqa: E402
from tests.edge.rollout_models import variant  # noqa: E402
from tests.helpers import free_port  # noqa: E402

CLIP = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
AFTER_SWAP_S = 5.0
AGENT_STEPS = {"downloading": "downloading", "smoke test passed": "smoke_test_passed", "swapped": "swapped"}


def collector(*args: str) -> str:
    """Run ``edgelabel-collector ARGS`` as a process; its stdout."""
    done = subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"edgelabel-collector {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def collector_sockets(port: int) -> dict[str, dict[str, int]]:
    """The collector's established TCP connections on ``port``: peer address -> tcp_info byte
    counters (bytes_sent counts retransmitted segments again, bytes_acked does not)."""
    out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True, check=True).stdout
    sockets, peer = {}, None
    for line in out.splitlines():
        fields = line.split()
        if not line.startswith((" ", "\t")) and len(fields) >= 4:
            peer = fields[-1] if ":" in fields[-1] else fields[3]
            continue
        if peer is not None:
            sockets[peer] = {key: int(value) for key, value in
                             re.findall(r"\b(bytes_sent|bytes_acked|bytes_received):(\d+)", line)}
            peer = None
    return sockets


class Scraper(threading.Thread):
    """Scrapes the agent's metrics every ``period_s``: (time, frames processed) samples."""

    def __init__(self, url: str, period_s: float = 0.05):
        super().__init__(daemon=True)
        self.url, self.period_s = url, period_s
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                text = urllib.request.urlopen(self.url, timeout=1).read().decode()
            except OSError:
                time.sleep(self.period_s)
                continue
            now = time.monotonic()
            counts = {name: float(value) for name, value in re.findall(
                r"^edgelabel_agent_(frames_read|frames_dropped)_total\{[^}]*\} (\S+)$", text, re.MULTILINE)}
            if "frames_read" in counts:
                self.samples.append((now, int(counts["frames_read"] - counts.get("frames_dropped", 0))))
            time.sleep(self.period_s)

    def frames_read(self) -> int:
        return self.samples[-1][1] if self.samples else 0


class LogReader(threading.Thread):
    """Keeps the agent's stderr in a file and notes when the rollout steps' lines arrive."""

    def __init__(self, stream, path: Path):
        super().__init__(daemon=True)
        self.stream, self.path = stream, path
        self.steps: dict[str, float] = {}

    def run(self) -> None:
        with self.path.open("w") as out:
            for line in self.stream:
                out.write(line)
                for needle, step in AGENT_STEPS.items():
                    if "model offer" in line and needle in line:
                        self.steps.setdefault(step, time.monotonic())


def longest_stall(samples: list[tuple[float, int]], start: float, end: float) -> float:
    """Longest time within [start, end] between two scrapes that each saw the processed count move
    (at 20 fps and a scrape every 50 ms, about 0.05-0.1 s when nothing stalls)."""
    window = [(t, n) for t, n in samples if start <= t <= end]
    moved = [t1 for (_, n0), (t1, n1) in pairwise(window) if n1 != n0]
    return max((b - a for a, b in pairwise(moved)), default=0.0)


def fps(samples: list[tuple[float, int]], start: float, end: float) -> float:
    window = [(t, n) for t, n in samples if start <= t <= end]
    if len(window) < 2 or window[-1][0] == window[0][0]:
        return 0.0
    return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def frames_by(data_dir: Path, model_id: str) -> int:
    with DataDir.open_readonly(data_dir) as store:
        return sum(frame["model_id"].startswith(model_id + "@") for frame in store.frame_rows())


def wait_until(condition, what: str, agent: subprocess.Popen, timeout_s: float = 180.0, period_s: float = 0.1) -> float:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if agent.poll() is not None:
            raise SystemExit(f"the agent exited ({agent.returncode}) before: {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for: {what}")
        time.sleep(period_s)
    return time.monotonic()


def one_round(tmp: Path, args: argparse.Namespace) -> dict:
    data_dir = tmp / "collector"
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    collector("init", "--data-dir", str(data_dir))
    collector("keys", "add-device", "cam", "--data-dir", str(data_dir), "--endpoint", endpoint,
              "--out", str(tmp / "cam.toml"))
    original = json.loads(collector("models", "add", str(MODEL_PATH), "--data-dir", str(data_dir), "--json"))
    new_model = variant(tmp)
    new = json.loads(collector("models", "add", str(new_model), "--data-dir", str(data_dir), "--json"))
    server = subprocess.Popen([sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest",
                               endpoint], stdout=subprocess.PIPE, stderr=(tmp / "collector.log").open("w"),
                              text=True, cwd=REPO)
    ready, _, _ = select.select([server.stdout], [], [], 60)
    if not ready or not server.stdout.readline().startswith("listening on "):
        raise SystemExit("the collector did not start")
    metrics = f"127.0.0.1:{free_port()}"
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--source", str(CLIP), "--model", str(MODEL_PATH),
         "--credentials", str(tmp / "cam.toml"), "--spool-dir", str(tmp / "spool"),
         *(["--pace", str(args.pace)] if args.pace > 0 else []),
         "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", str(args.threads),
         "--status-interval", str(args.status_interval), "--metrics", metrics, "--flush-timeout", "60", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    scraper = Scraper(f"http://{metrics}/metrics")
    log = LogReader(agent.stderr, tmp / "agent.log")
    scraper.start()
    log.start()
    try:
        started = wait_until(lambda: scraper.frames_read() > 0, "the first frame", agent)
        wait_until(lambda: scraper.frames_read() >= args.deploy_at, f"frame {args.deploy_at}", agent, period_s=0.02)
        if not frames_by(data_dir, original["model_id"]):
            raise SystemExit("no frame by the first model was stored before the deploy")
        before = collector_sockets(port)
        command_started = time.monotonic()
        collector("models", "deploy", "nano_v2", "--device", "cam", "--data-dir", str(data_dir))
        deployed, deployed_wall = time.monotonic(), time.time()
        first_new = wait_until(lambda: frames_by(data_dir, new["model_id"]) > 0, "a stored frame by the new model",
                               agent)
        swapped = wait_until(lambda: "swapped" in log.steps, "the agent's swap", agent, period_s=0.02)
        swapped = log.steps["swapped"]
        time.sleep(max(0.0, swapped + AFTER_SWAP_S - time.monotonic()))
        after = collector_sockets(port)
        [status] = json.loads(collector("models", "status", "--data-dir", str(data_dir), "--json"))
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=120)
    finally:
        scraper.stopping.set()
        if agent.poll() is None:
            agent.kill()
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    reports = {report["outcome"]: report["received_at"] - deployed_wall for report in status["deployment"]["reports"]}
    if status["deployment"]["state"] != "running":
        raise SystemExit(f"the deployment ended {status['deployment']['state']}: {status['deployment']}")
    opened = {peer: counts for peer, counts in after.items() if peer not in before}
    samples = scraper.samples
    return {
        "deploy_command_s": round(deployed - command_started, 2),
        "deploy_to_first_new_frame_s": round(first_new - deployed, 2),
        "deploy_to_downloaded_report_s": round(reports.get("downloaded", float("nan")), 2),
        "deploy_to_running_report_s": round(reports.get("running", float("nan")), 2),
        **{f"agent_{step}_s": round(log.steps[step] - deployed, 2) for step in AGENT_STEPS.values()
           if step in log.steps},
        "download_connections": len(opened),
        "wire_bytes_to_agent": sum(c.get("bytes_acked", 0) for c in opened.values()),
        "wire_bytes_retransmitted": sum(c.get("bytes_sent", 0) - c.get("bytes_acked", 0) for c in opened.values()),
        "wire_bytes_from_agent": sum(c.get("bytes_received", 0) for c in opened.values()),
        "model_bytes": new_model.stat().st_size,
        "longest_stall_before_s": round(longest_stall(samples, started + 1, deployed), 3),
        "longest_stall_swap_s": round(longest_stall(samples, deployed, swapped + AFTER_SWAP_S), 3),
        "fps_before": round(fps(samples, started + 1, deployed), 1),
        "fps_during_swap": round(fps(samples, deployed, swapped), 1),
        "fps_after": round(fps(samples, swapped, swapped + AFTER_SWAP_S), 1),
    }


def shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pace", type=float, default=2.0, 
                        help="replay speed of the 10 fps clip (default: 2; 0: unpaced)")
    parser.add_argument("--deploy-at", type=int, default=120, help="deploy once the agent read this many frames")
    parser.add_argument("--status-interval", type=float, default=1.0, help="the agent's heartbeat interval")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    rounds = []
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            rounds.append(one_round(Path(tmp), args))
        print(f"round {number}: {json.dumps(rounds[-1])}", flush=True)
    keys = list(dict.fromkeys(key for result in rounds for key in result))
    medians = {key: statistics.median(r[key] for r in rounds if key in r) for key in keys}
    lines = ["| measure | median | rounds |", "| --- | ---: | --- |"]
    for key in keys:
        values = ", ".join(shown(r[key]) if key in r else "-" for r in rounds)
        lines.append(f"| {key} | {shown(medians[key])} | {values} |")
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    print(json.dumps({"rounds": rounds, "median": medians, "pace": args.pace, "deploy_at": args.deploy_at,
                      "status_interval": args.status_interval}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
