"""Benchmark: durable ingest throughput of the collector on each storage, against a bare ZeroMQ echo, same run.

8 sender processes (one CURVE device key each) stream real JPEG frames over loopback, each with a
window of unacknowledged messages. The frames are the pets09 clip's own (480x360, about 30-40 KB
at quality 85), each sender walking the clip from its own start, with 5 boxes; a comment segment
makes every JPEG's bytes unique, so no frame is an exact copy, while consecutive frames of a camera
are what they are on a real fixed camera (the near-duplicate check runs on them as at a real site).
Each round measures, one after the other:

  * echo: a bare ROUTER with the same CURVE keys and allowlist that answers each message with a
    small ack at once (no validation, no storage): the ceiling of the transport;
  * sqlite: ``edgelabel-collector serve`` on its data directory (SQLite, media folder);
  * pg+s3 x1: ``serve --database postgresql://... --media s3://...`` on a local PostgreSQL cluster
    (fsync and synchronous commit on) and a one-server SeaweedFS;
  * pg+s3 x2: two such ``serve`` processes on the same database and bucket, the senders split
    between them.

Every configuration starts on an empty database (and media folder or bucket) each round. A frame
counts when its ack came back: the collector acks only after the commit that stored it. Prints
frames/s per round, medians, the ratio of each to the echo and of PostgreSQL+S3 to SQLite, then one
JSON line. PostgreSQL (Debian's binaries) and SeaweedFS (``weed`` from the dev extra) start as the
test fixtures start them (tests/server/_postgres.py, tests/server/_seaweedfs.py).

    python tests/bench/bench_ingest.py [--rounds 3] [--senders 8] [--frames 400] [--window 32]
    python tests/bench/bench_ingest.py --configs echo,sqlite --rounds 1 --frames 150   # a smoke run
    python tests/bench/bench_ingest.py --configs sqlite --rounds 1 --profile /tmp/prof   # py-spy each serve
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import zmq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edge.contract.credentials import read_credentials  # noqa: E402
from edge.contract.wire import (  # noqa: E402
    FrameHeader,
    Labels,
    Reply,
    encode_frame,
    encode_reply,
    peek_seq,
)
from tests.conftest import DATA_DIR  # noqa: E402

CLIP = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
CONFIGS = ("echo", "sqlite", "pg+s3 x1", "pg+s3 x2")
CONFIG_NAMES = {"echo": "echo", "sqlite": "sqlite", "pg1": "pg+s3 x1", "pg2": "pg+s3 x2"}


def clip_jpegs(limit: int) -> tuple[list[bytes], int, int]:
    """Up to ``limit`` consecutive frames of the clip as JPEGs (quality 85), and their size."""
    capture = cv2.VideoCapture(str(CLIP))
    jpegs, shape = [], None
    while len(jpegs) < limit:
        ok, image = capture.read()
        if not ok:
            break
        shape = image.shape
        jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    capture.release()
    if not jpegs:
        raise SystemExit(f"cannot read frames from {CLIP}")
    return jpegs, shape[1], shape[0]


def unique_jpeg(jpeg: bytes, tag: int) -> bytes:
    """The same picture with a comment segment that makes its bytes (and so its media file) unique."""
    comment = f"bench {tag}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def sender(credentials_file: str, endpoint: str, clip_file: str, first_frame: int, frames: int, window: int,
           start, results) -> None:
    credentials = read_credentials(credentials_file)
    with open(clip_file, "rb") as handle:
        jpegs, width, height = pickle.load(handle)
    labels = Labels(tuple((10.0 + 40 * i, 50.0, 40.0 + 40 * i, 200.0) for i in range(5)),
                    (0.9, 0.8, 0.7, 0.6, 0.5), (0, 0, 0, 2, 0), (1, 2, 3, 4, 5))
    base_seq = time.time_ns() // 1000
    captured = time.time()
    messages = [encode_frame(FrameHeader(device=credentials.device, seq=base_seq + i, capture_ts=captured + i / 10,
                                         width=width, height=height, model_id="bench", class_names=("person", "bicycle", "car"),
                                         labels=labels, reasons=("bench",), phash="0123456789abcdef"),
                             unique_jpeg(jpegs[(first_frame + i) % len(jpegs)], base_seq + i))
                for i in range(frames)]
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.curve_secretkey = credentials.device_secret_key.encode()
    socket.curve_publickey = credentials.device_public_key.encode()
    socket.curve_serverkey = credentials.collector_public_key.encode()
    socket.connect(endpoint)
    start.wait()  # every sender has built its messages and connected
    started = time.perf_counter()
    sent = answered = ok = 0
    while answered < frames:
        while sent < frames and sent - answered < window:
            socket.send_multipart(messages[sent], copy=False)
            sent += 1
        if socket.poll(30_000):
            reply = json.loads(socket.recv())
            answered += 1
            ok += reply["type"] == "ack"
        else:
            break
    results.put((time.perf_counter() - started, answered, ok))
    socket.close()
    context.term()


def echo_server(data_dir: str, endpoint_queue, stop) -> None:
    """A bare ROUTER with the collector's keys and allowlist: answer at once, keep nothing."""
    from server.keys import DeviceAuthenticator, KeyStore

    context = zmq.Context()
    keys = KeyStore(Path(data_dir))
    auth = DeviceAuthenticator(context, keys)
    auth.start()
    socket = context.socket(zmq.ROUTER)
    socket.linger = 0
    socket.curve_server = True
    collector = keys.collector_keys()
    socket.curve_secretkey = collector.secret.encode()
    socket.curve_publickey = collector.public.encode()
    socket.bind("tcp://127.0.0.1:*")
    endpoint_queue.put(socket.getsockopt_string(zmq.LAST_ENDPOINT))
    while not stop.is_set():
        if socket.poll(100):
            while True:
                try:
                    identity, header, _ = socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                socket.send_multipart([identity, encode_reply(Reply.ack(peek_seq(header)))])
    socket.close()
    auth.stop()
    context.term()


def run_senders(credential_files, endpoints: list[str], clip_file: Path, clip_frames: int, frames: int,
                window: int) -> float:
    """Durable (acked) frames per second of all senders; sender i talks to ``endpoints[i * len // senders]``."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    count = len(credential_files)
    start = ctx.Barrier(count, timeout=300)
    processes = [ctx.Process(target=sender, args=(str(f), endpoints[i * len(endpoints) // count], str(clip_file),
                                                  i * clip_frames // count, frames, window, start, results))
                 for i, f in enumerate(credential_files)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    slowest = max(seconds for seconds, _, _ in outcomes)
    answered = sum(a for _, a, _ in outcomes)
    acked = sum(ok for _, _, ok in outcomes)
    if answered != count * frames or acked != answered:
        raise SystemExit(f"lost or rejected messages: answered {answered}, acked {acked}")
    return answered / slowest


class Collectors:
    """``serve`` processes of one configuration, stopped (by their pids) when the block ends."""

    profile_dir: Path | None = None
    """Set by --profile: each serve process is sampled by py-spy into a raw flame-graph file here."""

    def __init__(self, keys_dir: Path, workdir: Path, nodes: int, database: str | None = None,
                 media: str | None = None, env: dict[str, str] | None = None):
        self.processes: list[subprocess.Popen] = []
        self.profilers: list[subprocess.Popen] = []
        self.endpoints: list[str] = []
        for node in range(nodes):
            data_dir = workdir / f"node-{node}"
            shutil.copytree(keys_dir, data_dir / "keys")  # the same collector key and device allowlist
            command = [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir),
                       "--ingest", "tcp://127.0.0.1:*"]
            command += ["--database", database] if database else []
            command += ["--media", media] if media else []
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=(workdir / f"node-{node}.log").open("w"),
                                       text=True, env={**os.environ, **(env or {})})
            self.processes.append(process)
            ready, _, _ = select.select([process.stdout], [], [], 60)
            line = process.stdout.readline() if ready else ""
            if not line.startswith("listening on"):
                self.stop()
                raise SystemExit(f"serve did not start: {(workdir / f'node-{node}.log').read_text()[-2000:]}")
            self.endpoints.append(line.split()[2])
            if self.profile_dir is not None:
                out = self.profile_dir / f"{workdir.name}-node-{node}.txt"
                self.profilers.append(subprocess.Popen(
                    [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                     str(process.pid), "--format", "raw", "--threads", "--nonblocking", "--rate", "100",
                     "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for profiler in self.profilers:  # it writes its file once the serve process has exited
            profiler.wait(timeout=60)

    def __enter__(self) -> Collectors:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Services:
    """PostgreSQL and SeaweedFS, started once for the run if a pg+s3 configuration is measured."""

    def __init__(self, workdir: Path):
        from tests.server._postgres import PostgresCluster
        from tests.server._seaweedfs import start_seaweedfs

        self.postgres = PostgresCluster(durable=True)
        try:
            self.weed, self.s3 = start_seaweedfs(workdir / "seaweedfs")
        except BaseException:
            self.postgres.stop()
            raise

    def stop(self) -> None:
        from tests.server._seaweedfs import stop_seaweedfs

        try:
            stop_seaweedfs(self.weed)
        finally:
            self.postgres.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / os.sysconf("SC_CLK_TCK")


def timed(pids: list[int], run, endpoints: list[str]) -> tuple[float, float]:
    """(frames/s, CPU seconds the receiving processes spent meanwhile)."""
    before = cpu_seconds(pids)
    rate = run(endpoints)
    return rate, cpu_seconds(pids) - before


def measure(config: str, keys_dir: Path, workdir: Path, services: Services | None, run) -> tuple[float, float]:
    if config == "echo":
        ctx = multiprocessing.get_context("spawn")
        endpoints, stop = ctx.Queue(), ctx.Event()
        echo = ctx.Process(target=echo_server, args=(str(keys_dir.parent), endpoints, stop))
        echo.start()
        try:
            return timed([echo.pid], run, [endpoints.get(timeout=30)])
        finally:
            stop.set()
            echo.join()
    if config == "sqlite":
        with Collectors(keys_dir, workdir, nodes=1) as collectors:
            return timed(collectors.pids, run, collectors.endpoints)
    nodes = 2 if config.endswith("x2") else 1
    bucket = services.s3.new_bucket()
    with Collectors(keys_dir, workdir, nodes, database=services.postgres.new_database(),
                    media=f"s3://{bucket}/frames", env=services.s3.environment()) as collectors:
        return timed(collectors.pids, run, collectors.endpoints)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--frames", type=int, default=400, help="frames per sender per round")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--configs", default="echo,sqlite,pg1,pg2",
                        help="comma-separated, of: echo, sqlite, pg1 (PostgreSQL + S3, one node), pg2 (two nodes)")
    parser.add_argument("--clip-frames", type=int, default=800, help="distinct clip frames the senders share")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample every serve process with py-spy (raw flame-graph files in DIR)")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        Collectors.profile_dir = args.profile.resolve()
    try:
        configs = [CONFIG_NAMES[name.strip()] for name in args.configs.split(",")]
    except KeyError as exc:
        parser.error(f"--configs: unknown configuration {exc}; expected some of {', '.join(CONFIG_NAMES)}")
    jpegs, width, height = clip_jpegs(args.clip_frames)

    rates: dict[str, list[float]] = {config: [] for config in configs}
    cpu_ms: dict[str, list[float]] = {config: [] for config in configs}  # receiver CPU per frame
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp = Path(tmp)
        clip_file = tmp / "clip.pickle"
        clip_file.write_bytes(pickle.dumps((jpegs, width, height)))
        keys_home = tmp / "keys-home"
        credential_files = []
        subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(keys_home)], check=True,
                       capture_output=True)
        for index in range(args.senders):
            out = tmp / f"bench-{index}.toml"
            subprocess.run([sys.executable, "-m", "server", "keys", "add-device", f"bench-{index}", "--data-dir",
                            str(keys_home), "--endpoint", "tcp://127.0.0.1:5555", "--out", str(out)],
                           check=True, capture_output=True)
            credential_files.append(out)

        def run(endpoints: list[str]) -> float:
            return run_senders(credential_files, endpoints, clip_file, len(jpegs), args.frames, args.window)

        services = Services(tmp) if any(config.startswith("pg") for config in configs) else None
        try:
            for round_index in range(args.rounds):
                for config in configs:
                    workdir = tmp / f"round-{round_index}-{config.replace(' ', '').replace('+', '')}"
                    workdir.mkdir()
                    rate, cpu = measure(config, keys_home / "keys", workdir, services, run)
                    rates[config].append(rate)
                    cpu_ms[config].append(cpu * 1000 / (args.senders * args.frames))
                    print(f"round {round_index + 1} {config:9} {rate:8.0f} frames/s, receiver CPU "
                          f"{cpu_ms[config][-1]:.2f} ms/frame", flush=True)
                    shutil.rmtree(workdir, ignore_errors=True)
        finally:
            if services is not None:
                services.stop()

    sizes = sorted(len(j) for j in jpegs)
    print(f"\n{args.senders} senders x {args.frames} frames, window {args.window}, CURVE, {len(jpegs)} clip frames "
          f"{width}x{height}, JPEG median {sizes[len(sizes) // 2] / 1000:.1f} KB, 5 boxes; medians of {args.rounds} rounds")
    medians = {config: statistics.median(values) for config, values in rates.items()}
    echo = medians.get("echo")
    sqlite = medians.get("sqlite")
    cpu_medians = {config: statistics.median(values) for config, values in cpu_ms.items()}
    print(f"{'configuration':14} {'frames/s':>9} {'/ echo':>7} {'/ sqlite':>9} {'CPU ms/frame':>13}   rounds (frames/s)")
    for config, median in medians.items():
        ratio_echo = f"{median / echo:7.3f}" if echo else f"{'-':>7}"
        ratio_sqlite = f"{median / sqlite:9.3f}" if sqlite and config.startswith("pg") else f"{'-':>9}"
        print(f"{config:14} {median:9.0f} {ratio_echo} {ratio_sqlite} {cpu_medians[config]:13.2f}   "
              f"{' '.join(f'{r:.0f}' for r in rates[config])}")
    print("CPU ms/frame: user+system time of the receiving processes (echo or serve) during the round, per "
          "frame; PostgreSQL's and SeaweedFS's own CPU is not in it")
    print(json.dumps({
        "bench": "ingest", "senders": args.senders, "frames_per_sender": args.frames, "window": args.window,
        "rounds": args.rounds, "jpeg_bytes_median": sizes[len(sizes) // 2],
        "frames_per_s": {config: round(median) for config, median in medians.items()},
        "per_round": {config: [round(r) for r in values] for config, values in rates.items()},
        "receiver_cpu_ms_per_frame": {config: round(median, 3) for config, median in cpu_medians.items()},
        "ratio_to_echo": {config: round(median / echo, 4) for config, median in medians.items()} if echo else {},
        "ratio_to_sqlite": ({config: round(median / sqlite, 4) for config, median in medians.items()
                             if config.startswith("pg")} if sqlite else {}),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
