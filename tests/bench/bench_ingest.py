"""Benchmark: durable ingest throughput of the collector against a bare ZeroMQ echo, same run.

8 sender processes (one CURVE device key each) stream real JPEG frames (a pets09 frame, about
30-40 KB, with 5 boxes) over loopback, each with a window of unacknowledged messages:

  * reference: a bare ROUTER with the same CURVE keys and allowlist that answers each message
    with a small ack at once (no validation, no storage);
  * collector: the real ``edgelabel-collector serve`` (validation, JPEG decode, content-addressed
    media, SQLite commit, ack after commit).

Prints frames/s of each per round, medians, and the ratio (target >= 0.5), then one JSON line.

    python tests/bench/bench_ingest.py [--rounds 3] [--senders 8] [--frames 400] [--window 32]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import select
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
CLIP = REPO.parent / "shared" / "data" / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"

from edge.contract.credentials import read_credentials  # noqa: E402
from edge.contract.wire import FrameHeader, Labels, Reply, encode_frame, encode_reply, peek_seq  # noqa: E402


def sample_jpeg() -> tuple[bytes, int, int]:
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, image = capture.read()
    capture.release()
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    return jpeg, image.shape[1], image.shape[0]


def unique_jpeg(jpeg: bytes, tag: int) -> bytes:
    """The same picture with a comment segment that makes its bytes (and so its media file) unique."""
    comment = f"bench {tag}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def sender(credentials_file: str, endpoint: str, frames: int, window: int, start_at: float, results) -> None:
    credentials = read_credentials(credentials_file)
    jpeg, width, height = sample_jpeg()
    labels = Labels(tuple((10.0 + 40 * i, 50.0, 40.0 + 40 * i, 200.0) for i in range(5)),
                    (0.9, 0.8, 0.7, 0.6, 0.5), (0, 0, 0, 2, 0), (1, 2, 3, 4, 5))
    base_seq = time.time_ns() // 1000
    messages = [encode_frame(FrameHeader(device=credentials.device, seq=base_seq + i, capture_ts=time.time(),
                                         width=width, height=height, model_id="bench", class_names=("person", "bicycle", "car"),
                                         labels=labels, reasons=("bench",), phash="0123456789abcdef"),
                                 unique_jpeg(jpeg, base_seq + i))
                for i in range(frames)]
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.curve_secretkey = credentials.device_secret_key.encode()
    socket.curve_publickey = credentials.device_public_key.encode()
    socket.curve_serverkey = credentials.collector_public_key.encode()
    socket.connect(endpoint)
    time.sleep(max(0.0, start_at - time.time()))
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


def run_senders(credential_files, endpoint, frames, window) -> float:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 3.0  # after every sender has built its messages and connected
    processes = [ctx.Process(target=sender, args=(str(f), endpoint, frames, window, start_at, results))
                 for f in credential_files]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    slowest = max(seconds for seconds, _, _ in outcomes)
    answered = sum(a for _, a, _ in outcomes)
    acked = sum(ok for _, _, ok in outcomes)
    if answered != len(credential_files) * frames or acked != answered:
        raise SystemExit(f"lost or rejected messages: answered {answered}, acked {acked}")
    return answered / slowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--frames", type=int, default=400, help="frames per sender per round")
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    jpeg, width, height = sample_jpeg()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "collector"
        credential_files = []
        for index in range(args.senders):
            out = Path(tmp) / f"bench-{index}.toml"
            subprocess.run([sys.executable, "-m", "server", "keys", "add-device", f"bench-{index}", "--data-dir",
                            str(data_dir), "--endpoint", "tcp://127.0.0.1:5555", "--out", str(out)],
                           check=True, capture_output=True)
            credential_files.append(out)
        for round_index in range(args.rounds):
            ctx = multiprocessing.get_context("spawn")
            endpoints, stop = ctx.Queue(), ctx.Event()
            echo = ctx.Process(target=echo_server, args=(str(data_dir), endpoints, stop))
            echo.start()
            echo_rate = run_senders(credential_files, endpoints.get(timeout=30), args.frames, args.window)
            stop.set()
            echo.join()

            collector = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", "tcp://127.0.0.1:*"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            select.select([collector.stdout], [], [], 30)
            endpoint = collector.stdout.readline().split()[2]
            collector_rate = run_senders(credential_files, endpoint, args.frames, args.window)
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=60)
            rows.append((round_index + 1, echo_rate, collector_rate))

    print(f"{args.senders} senders x {args.frames} frames, window {args.window}, CURVE, "
          f"JPEG {len(jpeg) / 1000:.1f} KB {width}x{height}, 5 boxes")
    print(f"{'round':>5} {'bare echo msg/s':>16} {'collector frames/s':>19} {'ratio':>6}")
    for number, echo_rate, collector_rate in rows:
        print(f"{number:>5} {echo_rate:>16.0f} {collector_rate:>19.0f} {collector_rate / echo_rate:>6.3f}")
    echo_median = statistics.median(r[1] for r in rows)
    collector_median = statistics.median(r[2] for r in rows)
    print(f"median: echo {echo_median:.0f} msg/s, collector {collector_median:.0f} durable frames/s, "
          f"ratio {collector_median / echo_median:.3f} (target >= 0.5)")
    print(json.dumps({"bench": "ingest", "senders": args.senders, "frames_per_sender": args.frames,
                      "window": args.window, "jpeg_bytes": len(jpeg), "echo_msgs_per_s_median": round(echo_median),
                      "collector_frames_per_s_median": round(collector_median),
                      "ratio": round(collector_median / echo_median, 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
