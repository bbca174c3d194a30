"""The sender's failover between collector nodes, on real receivers and real CURVE sockets.

Two receivers share one database (SQLite, one file) as two nodes would; each has its own key
pair, so the credentials carry a key per endpoint. The whole process with ``serve`` processes and
a SIGKILL is tests/test_failover.py.
"""

from __future__ import annotations

import logging
import shutil
import time

import cv2
import pytest

from edge.contract.credentials import CollectorEndpoint, DeviceCredentials, read_credentials
from edge.contract.wire import FrameHeader, Labels
from edge.sender import FrameSender
from server.datadir import DB_FILENAME, DataDir
from server.keys import KeyStore
from tests.conftest import DATA_DIR
from tests.helpers import ReceiverThread, free_port


@pytest.fixture(scope="module")
def frame_jpeg() -> tuple[int, int, bytes]:
    image = cv2.imread(str(DATA_DIR / "images" / "yolov5_zidane.jpg"))
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return image.shape[1], image.shape[0], buffer.tobytes()


def header(seq: int, width: int, height: int) -> FrameHeader:
    return FrameHeader(
        device="cam", seq=seq, capture_ts=time.time(), width=width, height=height,
        model_id="test-model", class_names=("person",),
        labels=Labels(xyxy=((100.0, 50.0, 400.0, 700.0),), score=(0.9,), class_id=(0,), track_id=(-1,)),
        reasons=("first",), phash=f"{seq:016x}",
    )


def stored_seqs(data_dir, database: str) -> list[int]:
    with DataDir.open_readonly(data_dir, database) as store:
        return sorted(row["seq"] for row in store.frame_rows() if row["device"] == "cam")


def nowhere() -> str:
    """An endpoint nobody listens on."""
    return f"tcp://127.0.0.1:{free_port()}"


def test_a_silent_node_is_left_for_the_next_with_its_own_key_and_nothing_is_stored_twice(tmp_path, frame_jpeg, caplog):
    width, height, jpeg = frame_jpeg
    # Node A issues the device's credentials; node B has its own key pair and the same allowlist.
    dir_a, dir_b = tmp_path / "node-a", tmp_path / "node-b"
    KeyStore(dir_a).add_device("cam", "tcp://127.0.0.1:0", tmp_path / "issued.toml")
    KeyStore(dir_b).collector_keys()
    shutil.copy(KeyStore(dir_a).devices_file, KeyStore(dir_b).devices_file)
    database = f"sqlite:///{tmp_path / DB_FILENAME}"
    node_a = ReceiverThread(dir_a, secure=True, database=database)
    node_b = ReceiverThread(dir_b, secure=True, database=database)
    issued = read_credentials(tmp_path / "issued.toml")
    credentials = DeviceCredentials("cam", issued.device_public_key, issued.device_secret_key, (
        CollectorEndpoint(node_a.endpoint, KeyStore(dir_a).collector_keys().public),
        CollectorEndpoint(node_b.endpoint, KeyStore(dir_b).collector_keys().public),
    ))
    assert credentials.collectors[0].public_key != credentials.collectors[1].public_key
    sender = FrameSender(credentials.endpoints, credentials, window=4, ack_timeout_s=0.3, failover_after_s=1.0)
    try:
        for seq in range(1, 6):
            sender.send(header(seq, width, height), jpeg)
        assert sender.flush(timeout_s=10)
        assert sender.endpoint == node_a.endpoint and sender.counts.failovers == 0

        node_a.close()  # node A is gone: what goes out now has no answer from it
        with caplog.at_level(logging.WARNING, logger="edge.sender"):
            for seq in range(6, 12):
                sender.send(header(seq, width, height), jpeg)
            assert sender.flush(timeout_s=15), "the frames never got an answer from node B"
        assert sender.endpoint == node_b.endpoint and sender.counts.failovers == 1
        assert sender.counts.acknowledged == 11 and not sender.counts.rejected
        switches = [r.getMessage() for r in caplog.records if "switching to" in r.getMessage()]
        assert len(switches) == 1
        assert switches[0].startswith(f"no ack from {node_a.endpoint} for ")
        assert switches[0].endswith(f" s; switching to {node_b.endpoint} (4 frame(s) in flight)")
    finally:
        sender.close()
        node_b.close()
    assert stored_seqs(dir_b, database) == list(range(1, 12))  # every frame, each exactly once


def test_frames_already_stored_through_one_node_are_duplicates_at_the_next(tmp_path, frame_jpeg):
    """A node that stored a frame and died before its ack was read: the retransmission to the next
    node is acknowledged as a duplicate, not stored again (the database's (device, seq) key)."""
    width, height, jpeg = frame_jpeg
    data_dir = tmp_path / "data"
    KeyStore(data_dir).add_device("cam", ["tcp://127.0.0.1:0", "tcp://127.0.0.1:1"], tmp_path / "cam.toml")
    node_a = ReceiverThread(data_dir, secure=True)
    credentials = read_credentials(tmp_path / "cam.toml")
    first = FrameSender(node_a.endpoint, credentials, ack_timeout_s=0.3)
    for seq in (1, 2):
        first.send(header(seq, width, height), jpeg)
    assert first.flush(timeout_s=10)
    first.close()
    node_a.close()

    node_b = ReceiverThread(data_dir, secure=True)  # the same keys: the credentials' one shared key
    sender = FrameSender([nowhere(), node_b.endpoint], credentials, ack_timeout_s=0.2, failover_after_s=0.5)
    try:
        for seq in (1, 2, 3):  # 1 and 2 stored through node A, whose acks this sender never saw
            sender.send(header(seq, width, height), jpeg)
        assert sender.flush(timeout_s=10)
        assert sender.counts.failovers == 1
        assert (sender.counts.acknowledged, sender.counts.duplicates) == (3, 2)
    finally:
        sender.close()
        node_b.close()
    assert stored_seqs(data_dir, None) == [1, 2, 3]


def test_failover_goes_round_robin_past_every_silent_node(tmp_path, frame_jpeg):
    width, height, jpeg = frame_jpeg
    node = ReceiverThread(tmp_path / "data")
    endpoints = [nowhere(), nowhere(), node.endpoint]
    sender = FrameSender(endpoints, None, window=4, ack_timeout_s=0.2, failover_after_s=0.4)
    try:
        sender.send(header(1, width, height), jpeg)
        assert sender.flush(timeout_s=10)
        assert sender.endpoint == node.endpoint and sender.counts.failovers == 2
    finally:
        sender.close()
        node.close()
    assert stored_seqs(tmp_path / "data", None) == [1]


def test_with_one_endpoint_the_sender_stays_and_retries(frame_jpeg):
    width, height, jpeg = frame_jpeg
    endpoint = nowhere()
    sender = FrameSender(endpoint, None, ack_timeout_s=0.1, failover_after_s=0.2)
    try:
        sender.send(header(1, width, height), jpeg)
        assert not sender.flush(timeout_s=1.0)
        assert sender.endpoint == endpoint and sender.counts.failovers == 0 and sender.in_flight == 1
    finally:
        sender.close()


def test_an_idle_sender_does_not_fail_over(tmp_path):
    """Silence counts only while frames wait for an answer: no frames, no switch."""
    sender = FrameSender([nowhere(), nowhere()], None, ack_timeout_s=0.1, failover_after_s=0.2)
    try:
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:
            sender.poll(timeout_s=0.1)
        assert sender.counts.failovers == 0 and sender.endpoint == sender.endpoints[0]
    finally:
        sender.close()


def test_each_switch_before_the_window_drains_waits_twice_as_long(frame_jpeg, caplog):
    """A node that is only slow is not left over and over, and an outage of every node is not
    logged every few seconds: the wait doubles per switch (up to 8x) until the window drains."""
    width, height, jpeg = frame_jpeg
    sender = FrameSender([nowhere(), nowhere()], None, ack_timeout_s=0.1, failover_after_s=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="edge.sender"):
            sender.send(header(1, width, height), jpeg)
            deadline = time.monotonic() + 20
            while sender.counts.failovers < 5 and time.monotonic() < deadline:
                sender.poll(timeout_s=0.05)
    finally:
        sender.close()
    silences = [float(r.getMessage().split(" for ")[1].split(" s;")[0])
                for r in caplog.records if "switching to" in r.getMessage()]
    assert len(silences) == 5
    for waited, least in zip(silences, (0.2, 0.4, 0.8, 1.6, 1.6)):  # the log rounds to 0.1 s
        assert waited >= least - 0.05, silences


def test_a_sender_that_gets_no_answer_says_so_once_per_interval(monkeypatch, caplog, frame_jpeg):
    """An agent started before its collector (or pointed at the wrong port) warns instead of staying silent."""
    import edge.sender

    monkeypatch.setattr(edge.sender, "SILENCE_WARNING_S", 0.3)
    monkeypatch.setattr(edge.sender, "SILENCE_REPEAT_S", 60.0)
    endpoint = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    sender = FrameSender(endpoint, None, ack_timeout_s=5.0)
    try:
        with caplog.at_level(logging.WARNING, logger="edge.sender"):
            width, height, jpeg = frame_jpeg
            sender.send(header(1, width, height), jpeg)
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                sender.poll(0.1)
    finally:
        sender.close()
    warnings = [r.getMessage() for r in caplog.records if "no answer from" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"no answer from {endpoint} for ") and "1 frame(s) wait" in warnings[0]
