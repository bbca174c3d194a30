"""A test double of the collector's side of a rollout (not of the agent under test): a ROUTER over
CURVE on loopback that acks frames, notes heartbeats (attaching the offer it holds), serves model
chunks from the files it was given, and notes the agent's reports. The real collector's end-to-end
test lives with the collector."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from pathlib import Path

import zmq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.contract.credentials import CollectorEndpoint, DeviceCredentials, write_credentials
from edge.contract.downloads import sha256_of
from edge.contract.rollout import (
    ChunkReply,
    ModelOffer,
    ModelReport,
    encode_chunk_reply,
    parse_chunk_request,
    parse_report,
    signed_bytes,
)
from edge.contract.wire import (
    FrameHeader,
    Reply,
    WireError,
    decode_frame,
    encode_reply,
    parse_status,
    weights_id,
)
from edge.detection.model_file import model_id


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def signed(offer: ModelOffer, key: Ed25519PrivateKey) -> ModelOffer:
    return dataclasses.replace(offer, signature=key.sign(signed_bytes(offer)).hex())


def offer_for(path: Path, deployment: int, device: str = "cam", mode: str = "active", **fields) -> ModelOffer:
    """An (unsigned) offer of the model file at ``path``, named as the collector would name it."""
    return ModelOffer(deployment=deployment, device=device, name=path.stem, model_id=model_id(path),
                      file_name=path.name, sha256=sha256_of(path), size_bytes=path.stat().st_size, mode=mode,
                      issued_at=time.time(), **fields)


class RolloutCollector:
    def __init__(self):
        public, secret = zmq.curve_keypair()
        self.public_key = public.decode()
        self.signing_key = Ed25519PrivateKey.generate()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.linger = 0
        self._socket.curve_server = True
        self._socket.curve_secretkey = secret
        self._socket.bind("tcp://127.0.0.1:*")
        self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.frames: list[FrameHeader] = []
        """Each frame as first stored, in arrival order."""
        self.duplicates = 0
        self.statuses: list[str] = []
        """The model id of each heartbeat, in arrival order."""
        self.heartbeats: list[tuple[float, str, dict]] = []
        """(arrival time.monotonic(), model id, counters) of each heartbeat."""
        self.frame_arrivals: list[float] = []
        """time.monotonic() when each of :attr:`frames` arrived."""
        self.bytes_served = 0
        """Chunk bytes sent (headers and data)."""
        self.reports: list[ModelReport] = []
        self.files: dict[str, bytes] = {}
        """What the chunk requests are served from, by the SHA-256 a request names."""
        self.chunks_served: Counter = Counter()
        self.offer: ModelOffer | None = None
        """Attached to every heartbeat reply while set (as the collector does until an outcome)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def credentials(self, path: Path, device: str = "cam", signing_key: str | None = None) -> Path:
        public, secret = zmq.curve_keypair()
        write_credentials(path, DeviceCredentials(
            device, public.decode(), secret.decode(), (CollectorEndpoint(self.endpoint, self.public_key),),
            public_hex(self.signing_key) if signing_key is None else signing_key))
        return path

    def serve_file(self, path: Path) -> None:
        self.files[sha256_of(path)] = path.read_bytes()

    def outcomes(self, deployment: int) -> list[str]:
        with self._lock:
            return [report.outcome for report in self.reports if report.deployment == deployment]

    def frames_by(self, weights: str) -> list[FrameHeader]:
        with self._lock:
            return [frame for frame in self.frames if weights_id(frame.model_id) == weights]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._socket.close(linger=0)
        self._context.term()

    def _serve(self) -> None:
        stored: set[int] = set()
        while not self._stop.is_set():
            if not self._socket.poll(50, zmq.POLLIN):
                continue
            identity, *parts = self._socket.recv_multipart()
            if len(parts) == 2:
                try:
                    header, _ = decode_frame(parts)
                except WireError as exc:
                    self._socket.send_multipart([identity, encode_reply(Reply.reject(None, exc))])
                    continue
                with self._lock:
                    duplicate = header.seq in stored
                    if duplicate:
                        self.duplicates += 1
                    else:
                        stored.add(header.seq)
                        self.frames.append(header)
                        self.frame_arrivals.append(time.monotonic())
                self._socket.send_multipart([identity, encode_reply(Reply.ack(header.seq, duplicate))])
                continue
            doc = json.loads(parts[0])
            if doc["type"] == "status":
                status = parse_status(doc)
                with self._lock:
                    self.statuses.append(status.model_id)
                    self.heartbeats.append((time.monotonic(), status.model_id, status.counters))
                    offer = self.offer
                self._socket.send_multipart([identity, encode_reply(Reply.noted(offer.to_json() if offer else None))])
            elif doc["type"] == "model_chunk":
                request = parse_chunk_request(doc)
                data = self.files.get(request.sha256)
                if data is None:
                    reply = Reply.reject(None, WireError("model_unavailable", "not deployed to this device"))
                    self._socket.send_multipart([identity, encode_reply(reply)])
                    continue
                self.chunks_served[request.sha256] += 1
                chunk = data[request.offset:request.offset + request.length]
                reply_parts = encode_chunk_reply(ChunkReply(request.sha256, request.offset, len(data)), chunk)
                self.bytes_served += sum(len(part) for part in reply_parts)
                self._socket.send_multipart([identity, *reply_parts])
            elif doc["type"] == "model_report":
                report = parse_report(doc)
                with self._lock:
                    self.reports.append(report)
                self._socket.send_multipart([identity, encode_reply(Reply.noted())])


def wait_until(condition, what: str, timeout_s: float = 120.0, process=None) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (a bound against a hang, not a timing check)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the agent exited ({process.returncode}) before: {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.05)
