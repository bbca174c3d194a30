"""The rollout messages' contract: what round-trips, what is signed, what is refused."""

import json

import pytest

from edge.contract import wire
from edge.contract.rollout import (
    ChunkReply,
    ChunkRequest,
    ModelOffer,
    ModelReport,
    RolloutError,
    agreement_ratio,
    decode_chunk_reply,
    encode_chunk_reply,
    encode_chunk_request,
    encode_report,
    parse_chunk_request,
    parse_offer,
    parse_report,
    signed_bytes,
)

SHA = "ab" * 32
OFFER = ModelOffer(deployment=3, device="cam-1", name="yolox-s", model_id="yolox_s-abababab", file_name="yolox_s.onnx",
                   sha256=SHA, size_bytes=1234, mode="active", issued_at=1.5e9, signature="cd" * 64)


def test_an_offer_round_trips_through_a_status_reply_and_its_signature_covers_every_other_field():
    reply = wire.decode_reply(wire.encode_reply(wire.Reply.noted(OFFER.to_json())))
    assert reply.status == "noted" and parse_offer(reply.offer) == OFFER
    assert b"signature" not in signed_bytes(OFFER)
    for changed in ({"device": "cam-2"}, {"sha256": "ef" * 32}, {"mode": "shadow"}, {"deployment": 4}):
        assert signed_bytes(parse_offer({**OFFER.to_json(), **changed})) != signed_bytes(OFFER)
    assert wire.decode_reply(wire.encode_reply(wire.Reply.noted())).offer is None


@pytest.mark.parametrize("changed", [{"sha256": "AB" * 32}, {"file_name": "../evil.onnx"}, {"mode": "canary"},
                                     {"size_bytes": 0}, {"signature": "xyz"}, {"deployment": True}])
def test_a_malformed_offer_is_refused_with_a_typed_error(changed):
    with pytest.raises(RolloutError):
        parse_offer({**OFFER.to_json(), **changed})


def test_chunks_and_reports_round_trip():
    request = ChunkRequest("cam-1", SHA, offset=0, length=256 * 1024)
    assert parse_chunk_request(json.loads(encode_chunk_request(request)[0])) == request
    with pytest.raises(RolloutError):
        parse_chunk_request({**request.to_json(), "length": 64 * 1024 * 1024})
    header, data = decode_chunk_reply(encode_chunk_reply(ChunkReply(SHA, 0, 3), b"abc"))
    assert header == ChunkReply(SHA, 0, 3) and data == b"abc"
    agreement = {"frames": 4, "current_boxes": 10, "candidate_boxes": 6, "matched_boxes": 4}
    report = ModelReport("cam-1", 3, SHA, "shadowing", ts=2.0, agreement=agreement)
    assert parse_report(json.loads(encode_report(report)[0])) == report
    assert agreement_ratio(agreement) == 0.5
    with pytest.raises(RolloutError):
        parse_report({**report.to_json(), "outcome": "exploded"})


def test_the_collector_decodes_chunk_requests_and_reports_like_other_messages_with_typed_rejections():
    request = ChunkRequest("cam-1", SHA, offset=0, length=1024)
    report = ModelReport("cam-1", 3, SHA, "running", ts=2.0)
    assert wire.decode_message(encode_chunk_request(request)) == request
    assert wire.decode_message(encode_report(report)) == report
    cases = [(encode_chunk_request(request) + [b"extra"], "bad_parts"),
             ([json.dumps({**request.to_json(), "sha256": "x"}).encode()], "bad_header"),
             ([json.dumps({**report.to_json(), "v": 2}).encode()], "unsupported_version"),
             ([json.dumps({**report.to_json(), "outcome": "exploded"}).encode()], "bad_header")]
    for parts, code in cases:
        with pytest.raises(wire.WireError) as refused:
            wire.decode_message(parts)
        assert refused.value.code == code
    with pytest.raises(wire.WireError, match="expected a frame message, got a ChunkRequest message"):
        wire.decode_frame(encode_chunk_request(request))
