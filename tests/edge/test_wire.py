import json

import cv2
import pytest

from edge.contract import limits, wire
from edge.contract.wire import FrameHeader, Labels, Reply, WireError, decode_frame, encode_frame
from tests.conftest import DATA_DIR


@pytest.fixture(scope="module")
def dog_jpeg() -> bytes:
    image = cv2.imread(str(DATA_DIR / "images" / "darknet_dog.jpg"))
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buffer.tobytes()


def make_header(**overrides) -> FrameHeader:
    fields = dict(
        device="cam-01",
        seq=7,
        capture_ts=1_700_000_000.25,
        width=768,
        height=576,
        model_id="yolox_nano-e8af0749",
        class_names=("person", "bicycle", "car"),
        labels=Labels(xyxy=((10.0, 20.0, 110.5, 220.0),), score=(0.91,), class_id=(1,), track_id=(4,)),
        reasons=("first",),
        priority=0.5,
        phash="00ff00ff00ff00ff",
        frame_index=3,
        source_ts=0.3,
    )
    fields.update(overrides)
    return FrameHeader(**fields)


def tamper(parts: list[bytes], **changes) -> list[bytes]:
    doc = json.loads(parts[0])
    for dotted, value in changes.items():
        target = doc
        *path, last = dotted.split("__")
        for key in path:
            target = target[key]
        target[last] = value
    return [json.dumps(doc).encode(), parts[1]]


def test_round_trip_keeps_every_field(dog_jpeg):
    header = make_header()
    decoded, jpeg = decode_frame(encode_frame(header, dog_jpeg))
    assert decoded == header
    assert jpeg == dog_jpeg


def test_header_is_compact_json_with_version(dog_jpeg):
    raw = encode_frame(make_header(), dog_jpeg)[0]
    doc = json.loads(raw)
    assert doc["v"] == wire.SCHEMA_VERSION and doc["type"] == "frame"
    assert b" " not in raw.replace(b"cam-01", b"")  # no padding in the header


def test_jpeg_size_reads_real_files():
    for name, expected in [("darknet_dog.jpg", (768, 576)), ("yolov5_bus.jpg", (810, 1080)), ("darknet_kite.jpg", (1352, 900))]:
        assert wire.jpeg_size((DATA_DIR / "images" / name).read_bytes()) == expected


@pytest.mark.parametrize(
    "make_parts, code",
    [
        (lambda p: p[:1], "bad_parts"),
        (lambda p: p + [b"extra"], "bad_parts"),
        (lambda p: [b"x" * (limits.MAX_HEADER_BYTES + 1), p[1]], "too_large"),
        (lambda p: [p[0], p[1] + b"\0" * limits.MAX_IMAGE_BYTES], "too_large"),
        (lambda p: [b"\xff\xfe not utf-8", p[1]], "bad_header"),
        (lambda p: [b"[1, 2, 3]", p[1]], "bad_header"),
        (lambda p: [p[0].replace(b'"priority":0.5', b'"priority":NaN'), p[1]], "bad_header"),
        (lambda p: tamper(p, width=16000, height=16000), "too_large"),
        (lambda p: tamper(p, v=2), "unsupported_version"),
        (lambda p: tamper(p, v=True), "unsupported_version"),  # found by the fuzz test: True == 1
        (lambda p: tamper(p, type={}), "bad_header"),  # found by the fuzz test: unhashable type
        (lambda p: [b"[" * 100_000 + b"]" * 100_000, p[1]], "bad_header"),
        (lambda p: tamper(p, seq=-1), "bad_header"),
        (lambda p: tamper(p, seq="7"), "bad_header"),
        (lambda p: tamper(p, device=""), "bad_header"),
        (lambda p: tamper(p, phash="xyz"), "bad_header"),
        (lambda p: tamper(p, model__classes=[]), "bad_header"),
        (lambda p: tamper(p, width=100), "bad_boxes"),  # the box now lies outside the image
        (lambda p: tamper(p, boxes__xyxy=[[10, 20, 5, 220]]), "bad_boxes"),
        (lambda p: tamper(p, boxes__xyxy=[[10, 20, 1e300, 220]]), "bad_boxes"),
        (lambda p: tamper(p, boxes__xyxy=[[10, 20, 30]]), "bad_boxes"),
        (lambda p: tamper(p, boxes__score=[1.5]), "bad_boxes"),
        (lambda p: tamper(p, boxes__class_id=[3]), "bad_boxes"),
        (lambda p: tamper(p, boxes__class_id=[True]), "bad_boxes"),
        (lambda p: tamper(p, boxes__track_id=[]), "bad_boxes"),
        (lambda p: [p[0], p[1][: len(p[1]) // 2]], "bad_image"),
        (lambda p: [p[0], b"GIF89a" + p[1]], "bad_image"),
        (lambda p: tamper(p, width=1000), "bad_image"),  # JPEG is 768 wide
    ],
)
def test_off_contract_messages_get_typed_errors(dog_jpeg, make_parts, code):
    parts = make_parts(encode_frame(make_header(), dog_jpeg))
    with pytest.raises(WireError) as caught:
        decode_frame(parts)
    assert caught.value.code == code
    assert caught.value.detail  # a reason a person can read


def test_status_messages_round_trip_and_are_checked():
    status = wire.DeviceStatus("cam-01", 1_700_000_000.0, "m", {"fps": 9.5, "spooled": 3, "rejected_black": 12})
    assert wire.decode_message(wire.encode_status(status)) == status
    for counters, code in [({"fps": -1}, "bad_header"), ({"made_up": 1}, "bad_header"), ({"fps": "x"}, "bad_header"),
                           ({"rejected_<b>": 1}, "bad_header"), ({f"rejected_x{i}": 1 for i in range(65)}, "bad_header")]:
        doc = status.to_json() | {"counters": counters}
        with pytest.raises(WireError) as caught:
            wire.decode_message([json.dumps(doc).encode()])
        assert caught.value.code == code
    with pytest.raises(WireError) as caught:
        wire.decode_message(wire.encode_status(status) + [b"extra"])
    assert caught.value.code == "bad_parts"
    with pytest.raises(WireError):
        decode_frame(wire.encode_status(status))


def test_replies_round_trip():
    ack = Reply.ack(12, duplicate=True)
    assert wire.decode_reply(wire.encode_reply(ack)) == ack
    reject = Reply.reject(None, WireError("bad_image", "truncated"))
    assert wire.decode_reply(wire.encode_reply(reject)) == reject
    with pytest.raises(WireError):
        wire.decode_reply(b"not json")


def test_peek_seq_names_what_it_can():
    assert wire.peek_seq(b'{"seq": 41, "v": 99}') == 41
    assert wire.peek_seq(b"garbage") is None
    assert wire.peek_seq(b'{"seq": "41"}') is None


def test_unknown_rejection_code_is_a_programming_error():
    with pytest.raises(ValueError):
        WireError("made_up", "x")
