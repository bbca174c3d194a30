"""The review API over real HTTP: uvicorn on a loopback port, httpx as a logged-in client."""

import argparse
import threading

import httpx
import pytest

from server.api.options import add_http_arguments, parse_address
from server.datadir import DataDir
from server.errors import ApiConfigError
from server.web.serve import start_from_args, start_review_api
from tests.server._frames import PETS, clip_frames, encode, header_for
from tests.server._login import add_accounts, logged_in


@pytest.fixture
def api(tmp_path, backend):
    images = clip_frames(PETS, (0, 40, 80, 120, 160, 200))
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header_for(image, "cam", seq, capture_ts=100.0 + seq, priority=seq / 10), encode(image))
                             for seq, image in enumerate(images)])
    add_accounts(tmp_path, "alice", "bob", *(f"r{i}" for i in range(4)))
    server = start_review_api(tmp_path, "127.0.0.1:0")
    yield server
    server.stop()


def client(server, user: str | None = "alice") -> httpx.Client:
    return logged_in(server.url, user) if user else httpx.Client(base_url=server.url, timeout=10)


def test_next_claim_submit_release_over_http(api):
    with client(api) as alice, client(api, "bob") as bob:
        queue = alice.get("/api/queue", params={"limit": 3}).json()
        assert len(queue["frames"]) == 3 and queue["counts"] == {"pending": 6}
        claimed = alice.post("/api/queue/claim").json()["frame"]
        assert claimed["id"] == queue["frames"][0]["id"] and claimed["claimed_by"] == "alice"
        assert bob.post(f"/api/frames/{claimed['id']}/submit", json={"decision": "accept"}).status_code == 409
        box = claimed["detections"][0]
        response = alice.post(f"/api/frames/{claimed['id']}/submit", json={
            "decision": "correct",
            "annotations": [{"x1": box["x1"], "y1": box["y1"], "x2": box["x2"] - 3, "y2": box["y2"],
                             "class_name": "person", "detection_id": box["id"]}],
        })
        assert response.status_code == 200
        done = response.json()["frame"]
        assert done["status"] == "corrected" and done["annotations"][0]["source"] == "human"
        other = bob.post("/api/queue/claim", json={"lease_seconds": 30}).json()["frame"]
        assert bob.post(f"/api/frames/{other['id']}/renew").status_code == 200
        assert bob.post(f"/api/frames/{other['id']}/release").json() == {"released": other["id"]}
        assert alice.get(f"/api/frames/{other['id']}").json()["frame"]["status"] == "pending"
        image = alice.get(f"/api/frames/{other['id']}/image")
        assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"


def test_concurrent_http_claims_are_all_different(api):
    got, lock = [], threading.Lock()

    def reviewer(name):
        with client(api, name) as http:
            while (frame := http.post("/api/queue/claim").json()["frame"]) is not None:
                with lock:
                    got.append(frame["id"])

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == len(set(got)) == 6


@pytest.mark.parametrize("method, path, body, status, code", [
    ("post", "/api/queue/claim", b"{not json", 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"frame_id": "one"}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"frame_id": 999}', 404, "not_found"),
    ("post", "/api/queue/claim", b'{"lease_seconds": -5}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"surprise": 1}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"frame_id": true}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"frame_id": 18446744073709551616}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"skip": [1, "2"]}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'{"skip": [' + b", ".join(b"1" for _ in range(1001)) + b']}', 400, "bad_request"),
    ("post", "/api/queue/claim", b'[1]', 400, "bad_request"),
    ("post", "/api/frames/1/release", b'{"frame_id": 1}', 400, "bad_request"),
    ("post", "/api/frames/1/submit", b'{}', 400, "bad_request"),
    ("post", "/api/frames/1/submit", b'{"decision": "correct", "annotations": [{"x1": 1}]}', 400, "bad_request"),
    ("post", "/api/track/accept", b'{"device": "cam", "track_id": true}', 400, "bad_request"),
    ("post", "/api/frames/1/submit", b'{"decision": "accept"}', 409, "claim_conflict"),
    ("get", "/api/frames/999", None, 404, "not_found"),
    ("get", "/api/queue?limit=lots", None, 400, "bad_request"),
])
def test_bad_requests_get_typed_json_errors(api, method, path, body, status, code):
    with client(api) as http:
        response = http.request(method.upper(), path, content=body)
    assert response.status_code == status and response.json()["error"] == code
    assert "\n" not in response.json()["detail"]


def test_no_session_no_answer(api):
    with client(api, user=None) as anonymous:
        response = anonymous.post("/api/queue/claim")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    with client(api) as alice:
        assert alice.get("/api/health").json() == {"ok": True}


def test_http_option_and_taken_port(tmp_path):
    DataDir.open(tmp_path).close()
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=lambda p: tmp_path)
    add_http_arguments(parser)
    assert start_from_args(parser.parse_args(["--data-dir", "x"])) is None
    with pytest.raises(SystemExit):  # the header-trusting mode is gone
        parser.parse_args(["--data-dir", "x", "--http", "127.0.0.1:0", "--insecure-http"])
    server = start_from_args(parser.parse_args(["--data-dir", "x", "--http", "127.0.0.1:0"]))
    try:
        with pytest.raises(ApiConfigError, match="cannot listen"):
            start_review_api(tmp_path, f"127.0.0.1:{server.port}")
    finally:
        server.stop()


@pytest.mark.parametrize("address", ["8080", "host:", ":80", "host:99999", "host:http"])
def test_bad_http_addresses(address):
    with pytest.raises(ApiConfigError, match="HOST:PORT"):
        parse_address(address)
