"""Model resolution and pinned downloads, against a real HTTP server on loopback (never the internet)."""

import functools
import hashlib
import socket
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge import models
from edge.contract.downloads import ChecksumError, FetchError, default_cache_dir, fetch_pinned, sha256_of
from edge.contract.errors import AgentError
from edge.errors import ModelError
from edge.models import KNOWN_MODELS, PinnedModel, resolve_model


class QuietHandler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/cut-short":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep test output clean
        pass


@pytest.fixture
def served_dir(tmp_path):
    """A directory served over HTTP on 127.0.0.1; yields (directory, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/yolox_nano.onnx"


def publish(root: Path, name: str, payload: bytes) -> str:
    (root / name).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


# --- fetch_pinned --------------------------------------------------------------------------------


def test_fetch_verifies_and_places_the_file(served_dir, tmp_path):
    root, base = served_dir
    payload = b"weights" * 10_000
    digest = publish(root, "weights.bin", payload)
    dest = tmp_path / "cache" / "nested" / "weights.bin"
    assert fetch_pinned(f"{base}/weights.bin", digest, dest, progress=False) == dest
    assert dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["weights.bin"]  # no temporary left


def test_fetch_with_progress_bar_still_writes_the_file(served_dir, tmp_path):
    root, base = served_dir
    digest = publish(root, "weights.bin", b"x" * 300_000)
    dest = fetch_pinned(f"{base}/weights.bin", digest.upper(), tmp_path / "w.bin", progress=True)
    assert sha256_of(dest) == digest


def test_bad_checksum_leaves_nothing_behind(served_dir, tmp_path):
    root, base = served_dir
    publish(root, "weights.bin", b"tampered")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as caught:
        fetch_pinned(f"{base}/weights.bin", "0" * 64, cache / "weights.bin", progress=False)
    assert f"download of {base}/weights.bin has sha256" in str(caught.value)
    assert "discarded" in str(caught.value)
    assert list(cache.iterdir()) == []


def test_bad_checksum_does_not_replace_a_good_file(served_dir, tmp_path):
    root, base = served_dir
    publish(root, "weights.bin", b"tampered")
    dest = tmp_path / "weights.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(ChecksumError):
        fetch_pinned(f"{base}/weights.bin", "0" * 64, dest, progress=False)
    assert dest.read_bytes() == b"previous"


def test_unreachable_url_says_which_and_what_to_do_instead(closed_port_url, tmp_path):
    with pytest.raises(FetchError) as caught:
        fetch_pinned(closed_port_url, "0" * 64, tmp_path / "m.onnx", progress=False, timeout=5)
    message = str(caught.value)
    assert message.startswith(f"cannot reach {closed_port_url}")
    assert "--model PATH" in message and "\n" not in message
    assert isinstance(caught.value, AgentError)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_reported(served_dir, tmp_path):
    _, base = served_dir
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=r"download of .*/missing\.onnx failed: HTTP 404"):
        fetch_pinned(f"{base}/missing.onnx", "0" * 64, cache / "m.onnx", progress=False)
    assert list(cache.iterdir()) == []


def test_connection_dropped_mid_transfer_is_reported(served_dir, tmp_path):
    _, base = served_dir
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=r"download of .*/cut-short was interrupted after 10 of 1000 bytes"):
        fetch_pinned(f"{base}/cut-short", "0" * 64, cache / "m.onnx", progress=False)
    assert list(cache.iterdir()) == []


def test_oversized_download_is_aborted(served_dir, tmp_path):
    root, base = served_dir
    digest = publish(root, "big.bin", b"y" * 10_000)
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="10000 bytes, expected 100"):
        fetch_pinned(f"{base}/big.bin", digest, cache / "big.bin", progress=False, expected_bytes=100)
    assert list(cache.iterdir()) == []


def test_not_a_url(tmp_path):
    with pytest.raises(FetchError, match="cannot download 'not a url'"):
        fetch_pinned("not a url", "0" * 64, tmp_path / "m.onnx", progress=False)


def test_fetch_module_imports_nothing_heavy():
    # The collector's demo imports edge.contract.downloads; it must not drag in numpy, cv2 or onnxruntime.
    heavy = "{'numpy', 'cv2', 'onnxruntime', 'tqdm'}"
    code = f"import sys, edge.contract.downloads, edge.models; print(sorted({heavy} & set(sys.modules)))"
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- resolve_model -------------------------------------------------------------------------------


def test_existing_path_is_returned_as_is(model_path, tmp_path):
    assert resolve_model(str(model_path), cache_dir=tmp_path) == model_path
    assert list(tmp_path.iterdir()) == []


def test_missing_path_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found: .*/nope.onnx"):
        resolve_model(str(tmp_path / "nope.onnx"), cache_dir=tmp_path)


def test_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="is not a file"):
        resolve_model(str(tmp_path), cache_dir=tmp_path)


def test_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelError, match=r"unknown model 'yolo-huge'.*\(known: yolox-nano\)"):
        resolve_model("yolo-huge", cache_dir=tmp_path)


def test_known_name_downloads_once_then_uses_the_cache(served_dir, model_path, tmp_path, monkeypatch):
    root, base = served_dir
    digest = publish(root, "yolox_nano.onnx", model_path.read_bytes())
    pinned = PinnedModel(f"{base}/yolox_nano.onnx", digest, model_path.stat().st_size)
    monkeypatch.setitem(KNOWN_MODELS, "yolox-nano", pinned)
    cache = tmp_path / "cache"

    first = resolve_model("yolox-nano", cache_dir=cache, progress=False)
    assert first == cache / f"yolox_nano-{digest[:8]}.onnx"
    assert sha256_of(first) == digest

    (root / "yolox_nano.onnx").unlink()  # the "network" no longer has it: the cache must answer
    assert resolve_model("yolox-nano", cache_dir=cache, progress=False) == first


def test_corrupted_cache_is_downloaded_again(served_dir, tmp_path, monkeypatch):
    root, base = served_dir
    digest = publish(root, "m.onnx", b"real weights")
    pinned = PinnedModel(f"{base}/m.onnx", digest, 12)
    monkeypatch.setitem(KNOWN_MODELS, "tiny", pinned)
    cached = tmp_path / pinned.cache_name
    cached.write_bytes(b"bit rot")
    assert resolve_model("tiny", cache_dir=tmp_path, progress=False).read_bytes() == b"real weights"


def test_known_name_offline_explains_the_alternative(closed_port_url, tmp_path, monkeypatch):
    monkeypatch.setitem(KNOWN_MODELS, "yolox-nano", PinnedModel(closed_port_url, "0" * 64, 10))
    with pytest.raises(FetchError, match=r"cannot reach .*; a local file can be given with --model PATH"):
        resolve_model("yolox-nano", cache_dir=tmp_path, progress=False)


def test_default_cache_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELABEL_CACHE", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("EDGELABEL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "edgelabel"


def test_official_pin_is_the_documented_release():
    pinned = models.KNOWN_MODELS["yolox-nano"]
    release = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0"
    assert pinned.url == f"{release}/yolox_nano.onnx"
    assert pinned.sha256 == "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"
    assert pinned.size_bytes == 3_659_407
    assert pinned.cache_name == "yolox_nano-c789161e.onnx"
