"""10,000 malformed messages against a real collector process: every one gets a typed rejection,
the collector's memory stays bounded, and a real agent is served normally afterwards."""

import json
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import zmq

from edge.contract import limits, wire
from edge.contract.wire import FrameHeader, Labels, decode_reply, encode_frame
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH

MESSAGES = 10_000
WINDOW = 200


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def malformed_messages(rng: random.Random, jpeg: bytes, width: int, height: int):
    good = FrameHeader(device="fuzz", seq=1, capture_ts=1.0, width=width, height=height, model_id="m",
                       class_names=("person", "car"),
                       labels=Labels(((10.0, 10.0, 50.0, 90.0),), (0.8,), (0,), (-1,)), phash="0" * 16)
    good_doc = good.to_json()

    def with_field(path: tuple[str, ...], value) -> list[bytes]:
        doc = json.loads(json.dumps(good_doc))
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return [json.dumps(doc).encode(), jpeg]

    # Values that break each field's contract (wrong type, out of range, inconsistent).
    invalid = {
        ("v",): [None, 2, "1", 1.5, True],
        ("type",): [None, 1, {}, [], "frames"],
        ("device",): [None, "", 5, [], "x" * 200, "a\nb"],
        ("seq",): [None, -1, "1", 1.5, True, 2**70],
        ("capture_ts",): [None, "x", [], True],
        ("width",): [None, 0, -1, "640", 1.5, 20000],
        ("height",): [None, 0, -1, "480", 1.5, 20000],
        ("model",): [None, "m", [], 1],
        ("model", "id"): [None, "", 1, []],
        ("model", "classes"): [None, [], "person", [1, 2], [""]],
        ("boxes",): [None, [], "x", 1],
        ("boxes", "xyxy"): [None, "x", [[1, 2]], [["a", 1, 2, 3]], []],
        ("boxes", "score"): [None, [2.0], ["x"], [-0.1]],
        ("boxes", "class_id"): [None, [5], [-1], [0.5], [True]],
        ("boxes", "track_id"): [None, [-2], ["1"], [1.5]],
        ("reasons",): [None, "x", [1], [""]],
        ("priority",): [None, "x", [], True],
        ("phash",): [None, "xyz", "0" * 15, "G" * 16, 5],
    }
    kinds = ["random", "parts", "truncated", "types", "boxes", "raw_nan", "nesting", "status"]
    for index in range(MESSAGES):
        kind = kinds[index % len(kinds)]
        if kind == "random":
            yield [rng.randbytes(rng.randint(0, 2000)) for _ in range(rng.randint(1, 2))]
        elif kind == "parts":
            yield [rng.randbytes(rng.randint(0, 50)) for _ in range(rng.randint(3, 6))]
        elif kind == "truncated":
            yield [encode_frame(good, jpeg)[0], jpeg[: rng.randint(0, len(jpeg) - 1)]]
        elif kind == "types":
            path = rng.choice(list(invalid))
            yield with_field(path, rng.choice(invalid[path]))
        elif kind == "boxes":
            x1, y1 = rng.uniform(-1e6, 1e6), rng.uniform(-10, height)
            box = rng.choice([[x1, y1, x1 - 1, y1 + 5], [0, 0, width + 1, 10], [5, 5, 5, 5], [1e300, 0, 2e300, 1],
                              [0, 0, 10], [0, 0, 10, 10, 10]])
            yield with_field(("boxes", "xyxy"), [box])
        elif kind == "raw_nan":
            raw = encode_frame(good, jpeg)[0].replace(b"10.0,10.0", rng.choice([b"NaN,10.0", b"Infinity,1", b"1e999,1"]))
            yield [raw, jpeg]
        elif kind == "nesting":
            depth = rng.randint(500, 200_000)
            yield [b"[" * depth + b"]" * depth, jpeg]
        else:
            yield [json.dumps({"v": 1, "type": "status", "device": "fuzz", "ts": 1.0, "model_id": "m",
                               "counters": {"fps": rng.choice([-1, "x", None, [1], {}])}}).encode()]
    # Oversized parts, above the wire limits but below the socket's hard cap: typed rejections too.
    yield [b"{" + b" " * (limits.MAX_HEADER_BYTES + 10) + b"}", jpeg]
    yield [encode_frame(good, jpeg)[0], b"\xff\xd8" + b"\0" * (limits.MAX_IMAGE_BYTES + 10) + b"\xff\xd9"]


@pytest.mark.slow
def test_ten_thousand_malformed_messages_are_rejected_and_the_collector_keeps_working(tmp_path):
    image = cv2.imread(str(DATA_DIR / "images" / "yolov5_zidane.jpg"))
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    data_dir = tmp_path / "collector"
    collector = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", "tcp://127.0.0.1:*",
         "--insecure"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready, _, _ = select.select([collector.stdout], [], [], 30)
        endpoint = collector.stdout.readline().split()[2]
        rss_before = rss_bytes(collector.pid)

        client = zmq.Context.instance().socket(zmq.DEALER)
        client.linger = 0
        client.connect(endpoint)
        replies, sent = [], 0
        for parts in malformed_messages(random.Random(20261127), jpeg, image.shape[1], image.shape[0]):
            client.send_multipart(parts)
            sent += 1
            while sent - len(replies) >= WINDOW:
                assert client.poll(10_000), "the collector stopped answering"
                replies.append(decode_reply(client.recv()))
        while len(replies) < sent:
            assert client.poll(10_000), "the collector stopped answering"
            replies.append(decode_reply(client.recv()))
        client.close()
        rss_after = rss_bytes(collector.pid)

        assert sent == MESSAGES + 2
        assert not [r for r in replies if r.ok], "a malformed message was accepted"
        codes = {r.status for r in replies}
        assert codes <= set(wire.REJECTION_CODES)
        assert {"bad_parts", "bad_header", "bad_boxes", "bad_image", "too_large"} <= codes
        assert rss_after - rss_before < 200 * 2**20, f"collector grew by {(rss_after - rss_before) / 2**20:.0f} MiB"

        agent = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--source",
             str(DATA_DIR / "videos" / "street_night_crowd_mmtracking_demo_8frames.mp4"), "--model", str(MODEL_PATH),
             "--insecure", "--device", "real-cam", "--collector", endpoint, "--json",
             "--spool-dir", str(tmp_path / "spool")],
            capture_output=True, text=True, timeout=120,
        )
        assert agent.returncode == 0, agent.stderr
        acknowledged = json.loads(agent.stdout)["acknowledged"]
        assert acknowledged >= 1
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.communicate(timeout=30)
    assert collector.returncode == 0
    with DataDir.open_readonly(data_dir) as store:
        stats = store.stats()
    assert stats["totals"]["frames"] == acknowledged
    assert stats["totals"]["rejections"] == sent
