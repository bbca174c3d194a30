"""The receiver and the sender over real ZeroMQ sockets on loopback, with and without CURVE."""

import stat
import time

import cv2
import pytest
import zmq

from edge.contract.credentials import DeviceCredentials, read_credentials, write_credentials
from edge.contract.wire import FrameHeader, Labels, decode_reply, encode_frame
from edge.sender import FrameSender
from server.datadir import DataDir
from server.keys import KeyStore, KeyStoreError
from tests.conftest import DATA_DIR
from tests.helpers import ReceiverThread


@pytest.fixture(scope="module")
def frame_jpeg() -> tuple[int, int, bytes]:
    image = cv2.imread(str(DATA_DIR / "images" / "yolov5_zidane.jpg"))
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return image.shape[1], image.shape[0], buffer.tobytes()


def header(device: str, seq: int, width: int, height: int) -> FrameHeader:
    return FrameHeader(
        device=device, seq=seq, capture_ts=time.time(), width=width, height=height,
        model_id="test-model", class_names=("person", "tie"),
        labels=Labels(xyxy=((100.0, 50.0, 400.0, 700.0),), score=(0.9,), class_id=(0,), track_id=(-1,)),
        reasons=("first",), phash="0123456789abcdef",
    )


@pytest.fixture
def insecure(tmp_path, database):
    running = ReceiverThread(tmp_path / "data", secure=False, database=database)
    yield running
    running.close()


def test_sender_gets_every_frame_acked_once_even_when_resent(insecure, frame_jpeg, tmp_path):
    width, height, jpeg = frame_jpeg
    sender = FrameSender(insecure.endpoint, None, window=4, ack_timeout_s=5.0)
    try:
        for seq in range(10):
            assert sender.send(header("cam-a", seq, width, height), jpeg)
        assert sender.flush(timeout_s=10)
        # The same (device, seq) again, as after an agent restart or a lost ack: acked, not stored again.
        for seq in range(5):
            sender.send(header("cam-a", seq, width, height), jpeg)
        assert sender.flush(timeout_s=10)
    finally:
        sender.close()
    assert sender.counts.sent == 15
    assert sender.counts.acknowledged == 15
    assert sender.counts.duplicates == 5
    rows = insecure.frames()
    assert sorted(row["seq"] for row in rows) == list(range(10))


def test_garbage_gets_typed_rejections_and_the_receiver_keeps_serving(insecure, frame_jpeg, tmp_path):
    width, height, jpeg = frame_jpeg
    context = zmq.Context.instance()
    client = context.socket(zmq.DEALER)
    client.linger = 0
    client.connect(insecure.endpoint)
    good = encode_frame(header("cam-b", 1, width, height), jpeg)
    garbage = [
        [b"three", b"parts", b"here"],
        [b"\x00\x01\x02", b"\xff\xd8 not really"],
        [b'{"v": 1, "type": "frame", "seq": 5}', jpeg],
        [good[0], jpeg[: len(jpeg) // 3]],
        [good[0].replace(b"[[100.0", b"[[-100.0"), jpeg],
    ]
    try:
        for parts in garbage:
            client.send_multipart(parts)
        replies = []
        for _ in garbage:
            assert client.poll(5000), "the receiver must answer every message"
            replies.append(decode_reply(client.recv()))
        assert [r.ok for r in replies] == [False] * len(garbage)
        assert [r.status for r in replies] == ["bad_parts", "bad_header", "bad_header", "bad_image", "bad_boxes"]
        assert replies[2].seq == 5  # the rejection names the message when it can
        client.send_multipart(good)
        assert client.poll(5000)
        assert decode_reply(client.recv()).status == "stored"
    finally:
        client.close()
    assert len(insecure.frames()) == 1
    with DataDir.open_readonly(tmp_path / "data", insecure.database) as store:
        stats = store.stats()
    assert sum(stats["rejections"]["by_code"].values()) == len(garbage)


def test_curve_admits_known_devices_and_refuses_strangers_and_impostors(tmp_path, frame_jpeg):
    width, height, jpeg = frame_jpeg
    data_dir = tmp_path / "data"
    keys = KeyStore(data_dir)
    keys.add_device("cam-good", "tcp://127.0.0.1:0", tmp_path / "good.toml")
    keys.add_device("cam-other", "tcp://127.0.0.1:0", tmp_path / "other.toml")
    running = ReceiverThread(data_dir, secure=True)
    try:
        good = read_credentials(tmp_path / "good.toml")
        sender = FrameSender(running.endpoint, good, ack_timeout_s=5.0)
        sender.send(header("cam-good", 1, width, height), jpeg)
        # A device that claims another device's name is refused with a typed rejection...
        sender.send(header("cam-other", 2, width, height), jpeg)
        # ...and so are that device's cameras; its own cameras are its to send.
        sender.send(header("cam-other/gate", 3, width, height), jpeg)
        sender.send(header("cam-good/gate", 4, width, height), jpeg)
        sender.send(header("cam-good/gate/deeper", 5, width, height), jpeg)
        assert sender.flush(timeout_s=10)
        assert sender.counts.acknowledged == 2
        assert dict(sender.counts.rejected) == {"device_mismatch": 3}
        sender.close()

        # A key the collector never issued cannot even connect: nothing is answered, nothing stored.
        public, secret = zmq.curve_keypair()
        stranger = FrameSender(running.endpoint, good.single(
            device="cam-good", endpoint=running.endpoint, device_public_key=public.decode(),
            device_secret_key=secret.decode(), collector_public_key=good.collector_public_key,
        ), ack_timeout_s=0.5)
        stranger.send(header("cam-good", 3, width, height), jpeg)
        assert not stranger.flush(timeout_s=2)
        stranger.close()

        # A plain (non-CURVE) client gets nowhere either.
        plain = FrameSender(running.endpoint, None, ack_timeout_s=0.5)
        plain.send(header("cam-good", 4, width, height), jpeg)
        assert not plain.flush(timeout_s=2)
        plain.close()

        # Revoking a device closes the door for new connections.
        keys.remove_device("cam-good")
        revoked = FrameSender(running.endpoint, good, ack_timeout_s=0.5)
        revoked.send(header("cam-good", 5, width, height), jpeg)
        assert not revoked.flush(timeout_s=2)
        revoked.close()
    finally:
        running.close()
    assert [(row["device"], row["seq"]) for row in running.frames()] == [("cam-good", 1), ("cam-good/gate", 4)]


def test_key_files_and_credentials_are_private_and_round_trip(tmp_path):
    keys = KeyStore(tmp_path / "data")
    written = keys.add_device("cam-good", "tcp://127.0.0.1:0", tmp_path / "good.toml")
    for path in (tmp_path / "good.toml", keys.collector_file, keys.devices_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert read_credentials(tmp_path / "good.toml") == written
    assert sorted(p.name for p in keys.dir.iterdir()) == ["collector.json", "devices.json", "model_signing.json"]  # no temporaries


def test_credentials_with_quotes_and_escapes_in_their_values_read_back(tmp_path):
    (public, secret), (collector_public, _) = (tuple(k.decode() for k in zmq.curve_keypair()) for _ in range(2))
    credentials = DeviceCredentials.single(device='gate "north" \\ ü\t', endpoint="tcp://[::1]:5555",
                                           device_public_key=public, device_secret_key=secret,
                                           collector_public_key=collector_public)
    write_credentials(tmp_path / "gate.toml", credentials)
    assert read_credentials(tmp_path / "gate.toml") == credentials


def test_an_agents_name_may_not_hold_the_camera_separator(tmp_path):
    with pytest.raises(KeyStoreError, match="names the cameras of an agent"):
        KeyStore(tmp_path / "data").add_device("site/1", "tcp://127.0.0.1:0", tmp_path / "x.toml")


def test_heartbeats_keep_the_last_status_per_device(insecure):
    from edge.contract.wire import DeviceStatus

    def latest_status():
        with DataDir.open_readonly(insecure.data_dir, insecure.database) as store:
            return store.stats()["devices"].get("cam-s", {}).get("status")

    sender = FrameSender(insecure.endpoint, None)
    try:
        # Heartbeats are fire-and-forget (dropped while not connected), so repeat like the agent does.
        for selected in (3, 7):
            deadline = time.monotonic() + 10
            while (latest_status() or {}).get("selected") != selected and time.monotonic() < deadline:
                sender.send_status(DeviceStatus("cam-s", time.time(), "test-model", {"fps": 9.5, "selected": selected}))
                sender.poll(timeout_s=0.2)
    finally:
        sender.close()
    status = latest_status()
    assert status["selected"] == 7 and status["fps"] == 9.5 and status["model_id"] == "test-model"
