"""The wire format between an edge agent and the collector.

Standard library only (no numpy, cv2 or onnxruntime), so anything can read a message cheaply. The
limits a message must keep are in :mod:`edge.contract.limits`.

A frame message is two ZeroMQ frames: a UTF-8 JSON header and the JPEG bytes. The header is
versioned (``"v"``), names its sender and sequence number (the idempotency key), the capture time,
the image size, the model that produced the labels, the boxes (columnar: pixel ``xyxy``, score,
class id, track id), why the frame was selected, and a 64-bit perceptual hash in hex.

A status message (heartbeat) is one ZeroMQ frame: a JSON header of type ``status`` with the
device's counters (fps, frames selected, spooled, dropped...). The collector keeps the last one
per device.

Two more one-part messages belong to model rollouts (:mod:`edge.contract.rollout`): a device's
``model_chunk`` request and its ``model_report``; :func:`decode_message` validates them too.

The collector answers every message with one JSON reply: an ack (``stored`` or ``duplicate`` for a
frame, ``noted`` for a status) or a typed rejection whose ``code`` is one of :data:`REJECTION_CODES`.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.contract import rollout
from edge.contract.limits import (
    MAX_BOXES,
    MAX_CLASSES,
    MAX_HEADER_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_NAME_CHARS,
    MAX_REASONS,
    MAX_REDACTION_COUNT,
    MAX_REDACTION_KINDS,
    MAX_STATUS_COUNTERS,
)
from edge.contract.rollout import ChunkRequest, ModelReport

SCHEMA_VERSION = 1

CAMERA_SEPARATOR = "/"
"""A multi-camera agent sends each camera's frames as device ``{agent device}/{camera}``; the
agent's key speaks for all of them, and each is its own device at the collector."""

RUNTIME_SEPARATOR = "@"
"""Agents send ``{weights id}@{runtime tag}`` as the model id (``yolox_nano-e8af0749@ov-cpu-f32``):
the same weights on another runtime or precision may box a little differently."""


def weights_id(model_id: str) -> str:
    """The weights part of a model id (the whole id when it names no runtime)."""
    return model_id.split(RUNTIME_SEPARATOR, 1)[0]


NO_TRACK = -1
"""Track id of a box that no tracker has assigned."""

REJECTION_CODES = (
    "bad_parts",  # wrong number of message parts
    "too_large",  # header or image over the limits
    "bad_header",  # not JSON, missing or mistyped fields
    "unsupported_version",  # schema version this side does not speak
    "bad_image",  # not a JPEG, truncated, or its size differs from the header's
    "bad_boxes",  # non-finite, outside the image, inconsistent columns, unknown class ids
    "unknown_device",  # the sending key is not allowed (or missing in secure mode)
    "device_mismatch",  # the header names another device than the key that sent it
    "redaction_required",  # the collector requires redaction from this device and the frame lacks it
    "model_unavailable",  # a model chunk was asked for that is not deployed to the asking device
    "internal",  # the collector failed to check or store the message (its fault, not the sender's)
)

_HEX64 = re.compile(r"^[0-9a-f]{16}$")


class WireError(ValueError):
    """A message that breaks the wire contract. ``code`` is one of :data:`REJECTION_CODES`."""

    def __init__(self, code: str, detail: str):
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Labels:
    """Boxes of one frame as parallel columns (pixel coordinates of the full frame)."""

    xyxy: tuple[tuple[float, float, float, float], ...] = ()
    score: tuple[float, ...] = ()
    class_id: tuple[int, ...] = ()
    track_id: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True)
class FrameHeader:
    device: str
    seq: int
    capture_ts: float
    """Wall-clock capture time, Unix seconds."""
    width: int
    height: int
    model_id: str
    class_names: tuple[str, ...]
    labels: Labels = field(default_factory=Labels)
    reasons: tuple[str, ...] = ()
    priority: float = 0.0
    phash: str = "0" * 16
    frame_index: int = 0
    """Index of the frame in its source (0-based)."""
    source_ts: float = 0.0
    """Position of the frame in its source, seconds (stream time for files, since start for live)."""
    redactions: tuple[tuple[str, int], ...] = ()
    """(kind, count) of each redaction applied to the pixels (``faces``, ``heads`` or a class
    name); a kind with count 0 was applied and found nothing. Empty: no redaction."""

    def to_json(self) -> dict:
        doc = {
            "v": SCHEMA_VERSION,
            "type": "frame",
            "device": self.device,
            "seq": self.seq,
            "capture_ts": self.capture_ts,
            "source_ts": self.source_ts,
            "frame_index": self.frame_index,
            "width": self.width,
            "height": self.height,
            "model": {"id": self.model_id, "classes": list(self.class_names)},
            "boxes": {
                # A tenth of a pixel is finer than any label needs and keeps headers short.
                "xyxy": [[round(v, 1) for v in row] for row in self.labels.xyxy],
                "score": [round(v, 4) for v in self.labels.score],
                "class_id": list(self.labels.class_id),
                "track_id": list(self.labels.track_id),
            },
            "reasons": list(self.reasons),
            "priority": self.priority,
            "phash": self.phash,
        }
        if self.redactions:  # left out otherwise: the header of an agent that redacts nothing is unchanged
            doc["redactions"] = dict(self.redactions)
        return doc


def encode_frame(header: FrameHeader, jpeg: bytes) -> list[bytes]:
    """Serialise a frame message into its ZeroMQ parts."""
    raw = json.dumps(header.to_json(), separators=(",", ":"), allow_nan=False).encode()
    return [raw, jpeg]


def decode_frame(parts: list[bytes]) -> tuple[FrameHeader, bytes]:
    """Parse and validate a frame message; raises :class:`WireError` on anything off-contract."""
    message = decode_message(parts)
    if not isinstance(message, tuple):
        raise WireError("bad_header", f"expected a frame message, got a {type(message).__name__} message")
    return message


def decode_message(parts: list[bytes]) -> tuple[FrameHeader, bytes] | DeviceStatus | ChunkRequest | ModelReport:
    """Parse and validate any message: ``(header, jpeg)`` for a frame, a :class:`DeviceStatus`, or a
    rollout's :class:`~edge.contract.rollout.ChunkRequest` or :class:`~edge.contract.rollout.ModelReport`."""
    if not 1 <= len(parts) <= 2:
        raise WireError("bad_parts", f"expected 1 (status, model_chunk, model_report) or 2 (frame: header, jpeg) "
                                     f"message parts, got {len(parts)}")
    raw_header = bytes(parts[0])
    if len(raw_header) > MAX_HEADER_BYTES:
        raise WireError("too_large", f"header is {len(raw_header)} bytes, limit {MAX_HEADER_BYTES}")
    if len(parts) == 2 and len(parts[1]) > MAX_IMAGE_BYTES:
        raise WireError("too_large", f"image is {len(parts[1])} bytes, limit {MAX_IMAGE_BYTES}")
    try:
        doc = json.loads(raw_header.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError("bad_header", f"header is not UTF-8 JSON ({exc})") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if not isinstance(kind, str):
        kind = None  # parse_header names the problem
    expected_parts = {"frame": 2, "status": 1, "model_chunk": 1, "model_report": 1}.get(kind)
    if expected_parts is not None and len(parts) != expected_parts:
        raise WireError("bad_parts", f"a {kind} message has {expected_parts} part(s), got {len(parts)}")
    if kind == "status":
        return parse_status(doc)
    if kind in ("model_chunk", "model_report"):
        return _parse_rollout(doc, rollout.parse_chunk_request if kind == "model_chunk" else rollout.parse_report)
    header = parse_header(doc)
    jpeg = bytes(parts[1])
    check_jpeg(jpeg, header.width, header.height)
    return header, jpeg


def _parse_rollout(doc: dict, parse: Callable[[dict], ChunkRequest | ModelReport]) -> ChunkRequest | ModelReport:
    if not _is_int(doc.get("v")) or doc.get("v") != rollout.SCHEMA_VERSION:
        raise WireError("unsupported_version", f"schema version {doc.get('v')!r}, this side speaks "
                                               f"{rollout.SCHEMA_VERSION}")
    try:
        return parse(doc)
    except rollout.RolloutError as exc:
        raise WireError("bad_header", str(exc)) from None


def parse_header(doc: object) -> FrameHeader:
    if not isinstance(doc, dict):
        raise WireError("bad_header", f"header must be a JSON object, got {type(doc).__name__}")
    version = doc.get("v")
    if not _is_int(version) or version != SCHEMA_VERSION:  # True == 1 in Python
        raise WireError("unsupported_version", f"schema version {version!r}, this side speaks {SCHEMA_VERSION}")
    if doc.get("type") != "frame":
        raise WireError("bad_header", f"message type {doc.get('type')!r}, expected 'frame'")
    device = _name(doc, "device")
    seq = _int(doc, "seq", 0, 2**63 - 1)
    width = _int(doc, "width", 1, MAX_IMAGE_SIDE)
    height = _int(doc, "height", 1, MAX_IMAGE_SIDE)
    if width * height > MAX_IMAGE_PIXELS:
        raise WireError("too_large", f"image is {width}x{height}, limit {MAX_IMAGE_PIXELS} pixels")
    capture_ts = _number(doc, "capture_ts")
    source_ts = _number(doc, "source_ts")
    frame_index = _int(doc, "frame_index", 0, 2**63 - 1)
    model = doc.get("model")
    if not isinstance(model, dict):
        raise WireError("bad_header", "'model' must be an object with 'id' and 'classes'")
    model_id = _name(model, "id")
    classes = model.get("classes")
    if not isinstance(classes, list) or not 0 < len(classes) <= MAX_CLASSES:
        raise WireError("bad_header", f"'model.classes' must be a list of 1..{MAX_CLASSES} names")
    if not all(isinstance(c, str) and 0 < len(c) <= MAX_NAME_CHARS for c in classes):
        raise WireError("bad_header", f"every class name must be a string of 1..{MAX_NAME_CHARS} characters")
    reasons = doc.get("reasons")
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS:
        raise WireError("bad_header", f"'reasons' must be a list of at most {MAX_REASONS} strings")
    if not all(isinstance(r, str) and 0 < len(r) <= MAX_NAME_CHARS for r in reasons):
        raise WireError("bad_header", "every reason must be a short non-empty string")
    priority = _number(doc, "priority")
    phash = doc.get("phash")
    if not isinstance(phash, str) or not _HEX64.match(phash):
        raise WireError("bad_header", f"'phash' must be 16 lowercase hex digits, got {phash!r}")
    labels = _parse_labels(doc.get("boxes"), width, height, len(classes))
    redactions = _parse_redactions(doc.get("redactions", {}))
    return FrameHeader(
        device=device,
        seq=seq,
        capture_ts=capture_ts,
        width=width,
        height=height,
        model_id=model_id,
        class_names=tuple(classes),
        labels=labels,
        reasons=tuple(reasons),
        priority=priority,
        phash=phash,
        frame_index=frame_index,
        source_ts=source_ts,
        redactions=redactions,
    )


def _parse_redactions(redactions: object) -> tuple[tuple[str, int], ...]:
    if not isinstance(redactions, dict) or len(redactions) > MAX_REDACTION_KINDS:
        raise WireError("bad_header", f"'redactions' must be an object of at most {MAX_REDACTION_KINDS} kinds")
    for kind, count in redactions.items():
        if not 0 < len(kind) <= MAX_NAME_CHARS:
            raise WireError("bad_header", "every redaction kind must be a short non-empty string")
        if not (_is_int(count) and 0 <= count <= MAX_REDACTION_COUNT):
            raise WireError("bad_header", f"redaction count of {kind!r} must be an integer in "
                                          f"[0, {MAX_REDACTION_COUNT}], got {count!r}")
    return tuple(redactions.items())


def _parse_labels(boxes: object, width: int, height: int, num_classes: int) -> Labels:
    if not isinstance(boxes, dict):
        raise WireError("bad_boxes", "'boxes' must be an object of columns xyxy/score/class_id/track_id")
    columns = {}
    for key in ("xyxy", "score", "class_id", "track_id"):
        column = boxes.get(key)
        if not isinstance(column, list):
            raise WireError("bad_boxes", f"'boxes.{key}' must be a list")
        columns[key] = column
    count = len(columns["xyxy"])
    if count > MAX_BOXES:
        raise WireError("bad_boxes", f"{count} boxes, limit {MAX_BOXES}")
    if any(len(c) != count for c in columns.values()):
        lengths = {k: len(v) for k, v in columns.items()}
        raise WireError("bad_boxes", f"box columns differ in length: {lengths}")
    xyxy = []
    for i, row in enumerate(columns["xyxy"]):
        if not (isinstance(row, list) and len(row) == 4 and all(_is_finite(v) for v in row)):
            raise WireError("bad_boxes", f"box {i}: xyxy must be 4 finite numbers, got {row!r}")
        x1, y1, x2, y2 = (float(v) for v in row)
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise WireError("bad_boxes", f"box {i}: xyxy {row} is empty or outside the {width}x{height} image")
        xyxy.append((x1, y1, x2, y2))
    scores = []
    for i, s in enumerate(columns["score"]):
        if not (_is_finite(s) and 0.0 <= s <= 1.0):
            raise WireError("bad_boxes", f"box {i}: score must be in [0, 1], got {s!r}")
        scores.append(float(s))
    class_ids = []
    for i, c in enumerate(columns["class_id"]):
        if not (_is_int(c) and 0 <= c < num_classes):
            raise WireError("bad_boxes", f"box {i}: class_id must be in [0, {num_classes}), got {c!r}")
        class_ids.append(c)
    track_ids = []
    for i, t in enumerate(columns["track_id"]):
        if not (_is_int(t) and NO_TRACK <= t < 2**63):
            raise WireError("bad_boxes", f"box {i}: track_id must be an integer >= {NO_TRACK}, got {t!r}")
        track_ids.append(t)
    return Labels(tuple(xyxy), tuple(scores), tuple(class_ids), tuple(track_ids))


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker, without decoding the image.

    Raises :class:`WireError` (``bad_image``) when the bytes are not a complete baseline or
    progressive JPEG: no SOI, no SOF before the scan, or no EOI at the end (a truncated upload).
    """
    if len(jpeg) < 4 or jpeg[:2] != b"\xff\xd8":
        raise WireError("bad_image", "not a JPEG (no start-of-image marker)")
    if jpeg[-2:] != b"\xff\xd9":
        raise WireError("bad_image", "JPEG is truncated (no end-of-image marker)")
    pos = 2
    end = len(jpeg)
    while pos + 4 <= end:
        if jpeg[pos] != 0xFF:
            raise WireError("bad_image", f"corrupt JPEG marker at byte {pos}")
        marker = jpeg[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if length < 2:
            raise WireError("bad_image", f"corrupt JPEG segment length at byte {pos}")
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > end:
                break
            height, width = struct.unpack(">HH", jpeg[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise WireError("bad_image", "JPEG has no frame header (SOF) before its scan data")


def check_jpeg(jpeg: bytes, width: int, height: int) -> None:
    actual = jpeg_size(jpeg)
    if actual != (width, height):
        raise WireError("bad_image", f"JPEG is {actual[0]}x{actual[1]}, header says {width}x{height}")


# --- device status (heartbeats) ------------------------------------------------------------------

STATUS_COUNTERS = (
    "fps",  # frames the detector processed per second since the last status
    "frames_read",
    "frames_dropped",  # live frames dropped because the detector was behind
    "selected",
    "spooled",  # frames waiting in the device's spool
    "spool_bytes",
    "evicted",  # frames the full spool had to drop
    "sent",
    "acknowledged",
    "uptime_s",
    "failovers",  # switches to the next collector endpoint (sent only by agents with several)
    "missed_tracks",  # objects that left before a kept frame showed them (sent only once there are some)
)
REJECTED_COUNTER = re.compile(r"^rejected_[a-z][a-z0-9_]{0,31}$")
"""Frames the selector rejected for a quality flaw, one counter per flaw (``rejected_black``...)."""


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    ts: float
    """Wall-clock time of the status on the device, Unix seconds."""
    model_id: str
    counters: dict[str, float] = field(default_factory=dict)
    """Any of :data:`STATUS_COUNTERS` or :data:`REJECTED_COUNTER`, each a finite number >= 0."""

    def to_json(self) -> dict:
        return {"v": SCHEMA_VERSION, "type": "status", "device": self.device, "ts": self.ts,
                "model_id": self.model_id, "counters": dict(self.counters)}


def encode_status(status: DeviceStatus) -> list[bytes]:
    return [json.dumps(status.to_json(), separators=(",", ":"), allow_nan=False).encode()]


def parse_status(doc: dict) -> DeviceStatus:
    if not _is_int(doc.get("v")) or doc.get("v") != SCHEMA_VERSION:
        raise WireError("unsupported_version", f"schema version {doc.get('v')!r}, this side speaks {SCHEMA_VERSION}")
    counters = doc.get("counters")
    if not isinstance(counters, dict):
        raise WireError("bad_header", "'counters' must be an object")
    if len(counters) > MAX_STATUS_COUNTERS:
        raise WireError("bad_header", f"{len(counters)} status counters, limit {MAX_STATUS_COUNTERS}")
    unknown = sorted(name for name in counters if name not in STATUS_COUNTERS and not REJECTED_COUNTER.match(str(name)))
    if unknown:
        raise WireError("bad_header", f"unknown status counters {unknown[:5]}; known: {', '.join(STATUS_COUNTERS)}, "
                                      "rejected_<flaw>")
    for name, value in counters.items():
        if not (_is_finite(value) and value >= 0):
            raise WireError("bad_header", f"status counter {name!r} must be a finite number >= 0, got {value!r}")
    return DeviceStatus(device=_name(doc, "device"), ts=_number(doc, "ts"), model_id=_name(doc, "model_id"),
                        counters={k: float(v) for k, v in counters.items()})


# --- replies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """The collector's answer to one message: an ack (``ok``) or a typed rejection."""

    seq: int | None
    ok: bool
    status: str
    """``stored`` or ``duplicate`` for a frame's ack, ``noted`` for a status message's; a
    :data:`REJECTION_CODES` entry for a rejection."""
    detail: str = ""
    offer: dict | None = None
    """A ``noted`` status reply may carry a model offer (:mod:`edge.contract.rollout`), kept as
    JSON here so that a malformed offer never makes the reply itself unreadable."""

    @classmethod
    def ack(cls, seq: int, duplicate: bool = False) -> "Reply":
        return cls(seq=seq, ok=True, status="duplicate" if duplicate else "stored")

    @classmethod
    def noted(cls, offer: dict | None = None) -> "Reply":
        return cls(seq=None, ok=True, status="noted", offer=offer)

    @classmethod
    def reject(cls, seq: int | None, error: WireError) -> "Reply":
        return cls(seq=seq, ok=False, status=error.code, detail=error.detail[:500])


def encode_reply(reply: Reply) -> bytes:
    doc = {"v": SCHEMA_VERSION, "type": "ack" if reply.ok else "reject", "seq": reply.seq, "status": reply.status}
    if reply.detail:
        doc["detail"] = reply.detail
    if reply.offer is not None:
        doc["offer"] = reply.offer
    return json.dumps(doc, separators=(",", ":")).encode()


def decode_reply(raw: bytes) -> Reply:
    try:
        doc = json.loads(raw)
        kind = doc["type"]
        seq = doc["seq"]
        if kind not in ("ack", "reject") or not (seq is None or _is_int(seq)):
            raise ValueError(f"type {kind!r}, seq {seq!r}")
        offer = doc.get("offer")
        return Reply(seq=seq, ok=kind == "ack", status=str(doc["status"]), detail=str(doc.get("detail", "")),
                     offer=offer if isinstance(offer, dict) else None)
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError("bad_header", f"unreadable reply from collector ({exc})") from None


def peek_seq(raw_header: bytes) -> int | None:
    """Best-effort sequence number of a message that failed validation, so its rejection can name it."""
    try:
        seq = json.loads(raw_header).get("seq")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
    return seq if _is_int(seq) and seq >= 0 else None


# --- field helpers -------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _int(doc: dict, key: str, low: int, high: int) -> int:
    value = doc.get(key)
    if not (_is_int(value) and low <= value <= high):
        raise WireError("bad_header", f"'{key}' must be an integer in [{low}, {high}], got {value!r}")
    return value


def _number(doc: dict, key: str) -> float:
    value = doc.get(key)
    if not _is_finite(value):
        raise WireError("bad_header", f"'{key}' must be a finite number, got {value!r}")
    return float(value)


def _name(doc: dict, key: str) -> str:
    value = doc.get(key)
    if not (isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS and value.isprintable()):
        raise WireError("bad_header", f"'{key}' must be a printable string of 1..{MAX_NAME_CHARS} characters")
    return value
