"""The wire contract of a model rollout: offer, chunked download and the device's reports.

Standard library only, like :mod:`edge.contract.wire`. Signing and verifying (Ed25519, via the
``cryptography`` package) live on each side; this module defines the bytes that are signed.

1. **Offer.** The collector answers a device's heartbeat (``noted``) with an ``offer`` object when a
   deployment for that device is pending (:class:`ModelOffer`, inside the reply's JSON). The offer
   names the model by SHA-256 and is signed with the collector's Ed25519 model-signing key; the
   device holds the public key from its credentials file (``model_signing_key``) and ignores
   offers that are unsigned, badly signed, or addressed to another device. An offer repeats on
   every heartbeat until the device reports an outcome for its deployment.
2. **Download.** The device asks for the file in chunks (:class:`ChunkRequest`, a one-part message
   of type ``model_chunk``) on its own DEALER socket to the same endpoint with the same CURVE keys.
   The collector answers a two-part message: a JSON :class:`ChunkReply` header and the bytes, or an
   ordinary rejection (``model_unavailable`` when that model is not deployed to that device).
3. **Reports.** The device tells the collector what became of a deployment (:class:`ModelReport`,
   a one-part message of type ``model_report``, answered ``noted``): downloaded, running,
   shadowing with the agreement so far, or refused/failed with the reason, in which case it keeps
   its current model.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from edge.contract.limits import MAX_NAME_CHARS

SCHEMA_VERSION = 1

MAX_MODEL_BYTES = 512 * 1024 * 1024
"""Largest model file a rollout carries."""
MAX_CHUNK_BYTES = 1024 * 1024
"""Largest chunk one request may ask for (stays under the collector's MAXMSGSIZE for any part)."""
DEFAULT_CHUNK_BYTES = 256 * 1024
MAX_DETAIL_CHARS = 500

MODES = ("active", "shadow")
"""``active``: pre-label with the model. ``shadow``: keep the current model, run the offered one
on a sample of kept frames and report how far the two agree."""

OUTCOMES = (
    "downloaded",  # the file arrived and its SHA-256 matches
    "running",  # active: loaded, smoke-tested and swapped in; frames now carry its model id
    "shadowing",  # shadow: loaded and running beside the current model (agreement attached)
    "refused_signature",  # unsigned offer, wrong signature, wrong device, or no signing key on the device
    "refused_hash",  # the downloaded bytes do not have the offered SHA-256
    "failed_download",  # the collector would not or could not serve the file
    "failed_load",  # the runtime could not load the file
    "failed_smoke_test",  # loaded, but failed on recent frames (exception, non-finite or malformed output)
)
FINAL_OUTCOMES = frozenset(OUTCOMES) - {"downloaded"}
"""Outcomes after which the collector stops offering that deployment to that device."""

AGREEMENT_FIELDS = ("frames", "current_boxes", "candidate_boxes", "matched_boxes")
"""Shadow agreement counts: boxes of each model on the sampled frames, and pairs matched one to
one at IoU >= 0.5 with the same class name. Agreement = 2 x matched / (current + candidate)."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{128}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.onnx$")


class RolloutError(ValueError):
    """A rollout message that breaks this contract."""


@dataclass(frozen=True)
class ModelOffer:
    deployment: int
    """The collector's deployment id; reports name it."""
    device: str
    """The device the offer is for: a signed offer cannot be replayed to another device."""
    name: str
    """The model's name in the collector's registry."""
    model_id: str
    """The weights id the device will report once it runs the file (``{stem}-{8 hex}``)."""
    file_name: str
    """Save the file under this name: the agent derives ``model_id`` from the stem."""
    sha256: str
    size_bytes: int
    mode: str
    issued_at: float
    shadow_every: int = 1
    """Shadow mode: run the candidate on every Nth kept frame."""
    signature: str = ""
    """Ed25519 signature (hex) of :func:`signed_bytes`; "" when unsigned (always refused)."""

    def to_json(self) -> dict:
        return asdict(self)


def signed_bytes(offer: ModelOffer) -> bytes:
    """What the collector signs: the offer without its signature, as canonical JSON."""
    doc = offer.to_json()
    doc.pop("signature")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def parse_offer(doc: object) -> ModelOffer:
    if not isinstance(doc, dict):
        raise RolloutError("an offer must be a JSON object")
    offer = ModelOffer(
        deployment=_int(doc, "deployment", 1, 2**62), device=_text(doc, "device"), name=_text(doc, "name"),
        model_id=_text(doc, "model_id"), file_name=_text(doc, "file_name"), sha256=_text(doc, "sha256"),
        size_bytes=_int(doc, "size_bytes", 1, MAX_MODEL_BYTES), mode=_text(doc, "mode"),
        issued_at=_number(doc, "issued_at"), shadow_every=_int(doc, "shadow_every", 1, 10_000),
        signature=doc.get("signature", "") if isinstance(doc.get("signature", ""), str) else "")
    if not _SHA256.match(offer.sha256):
        raise RolloutError("an offer's 'sha256' must be 64 lowercase hex digits")
    if not _FILE_NAME.match(offer.file_name):
        raise RolloutError(f"an offer's 'file_name' must be a plain .onnx file name, got {offer.file_name!r}")
    if offer.mode not in MODES:
        raise RolloutError(f"an offer's 'mode' must be one of {', '.join(MODES)}, got {offer.mode!r}")
    if offer.signature and not _HEX_SIGNATURE.match(offer.signature):
        raise RolloutError("an offer's 'signature' must be 128 lowercase hex digits (Ed25519)")
    return offer


@dataclass(frozen=True)
class ChunkRequest:
    device: str
    sha256: str
    offset: int
    length: int

    def to_json(self) -> dict:
        return {"v": SCHEMA_VERSION, "type": "model_chunk", **asdict(self)}


def encode_chunk_request(request: ChunkRequest) -> list[bytes]:
    return [json.dumps(request.to_json(), separators=(",", ":")).encode()]


def parse_chunk_request(doc: dict) -> ChunkRequest:
    request = ChunkRequest(device=_text(doc, "device"), sha256=_text(doc, "sha256"),
                           offset=_int(doc, "offset", 0, MAX_MODEL_BYTES), length=_int(doc, "length", 1, MAX_CHUNK_BYTES))
    if not _SHA256.match(request.sha256):
        raise RolloutError("'sha256' must be 64 lowercase hex digits")
    return request


@dataclass(frozen=True)
class ChunkReply:
    sha256: str
    offset: int
    total: int
    """The whole file's size: the device knows when it is done."""

    def to_json(self) -> dict:
        return {"v": SCHEMA_VERSION, "type": "model_chunk", **asdict(self)}


def encode_chunk_reply(reply: ChunkReply, data: bytes) -> list[bytes]:
    return [json.dumps(reply.to_json(), separators=(",", ":")).encode(), data]


def decode_chunk_reply(parts: list[bytes]) -> tuple[ChunkReply, bytes]:
    """A chunk's header and bytes; raises :class:`RolloutError` for anything else (a rejection
    reaches the device as a one-part ``reject`` message: see :func:`edge.contract.wire.decode_reply`)."""
    if len(parts) != 2:
        raise RolloutError(f"a chunk reply has 2 parts, got {len(parts)}")
    try:
        doc = json.loads(bytes(parts[0]))
    except ValueError as exc:
        raise RolloutError(f"unreadable chunk header ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != "model_chunk":
        raise RolloutError("expected a model_chunk reply")
    reply = ChunkReply(sha256=_text(doc, "sha256"), offset=_int(doc, "offset", 0, MAX_MODEL_BYTES),
                       total=_int(doc, "total", 1, MAX_MODEL_BYTES))
    return reply, bytes(parts[1])


@dataclass(frozen=True)
class ModelReport:
    device: str
    deployment: int
    sha256: str
    outcome: str
    ts: float
    detail: str = ""
    agreement: dict[str, int] | None = None
    """Shadow mode: :data:`AGREEMENT_FIELDS` counts so far; None otherwise."""

    def to_json(self) -> dict:
        doc = {"v": SCHEMA_VERSION, "type": "model_report", **asdict(self)}
        if self.agreement is None:
            doc.pop("agreement")
        return doc


def encode_report(report: ModelReport) -> list[bytes]:
    return [json.dumps(report.to_json(), separators=(",", ":"), allow_nan=False).encode()]


def parse_report(doc: dict) -> ModelReport:
    outcome = _text(doc, "outcome")
    if outcome not in OUTCOMES:
        raise RolloutError(f"'outcome' must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    sha256 = _text(doc, "sha256")
    if not _SHA256.match(sha256):
        raise RolloutError("'sha256' must be 64 lowercase hex digits")
    detail = doc.get("detail", "")
    if not isinstance(detail, str) or len(detail) > MAX_DETAIL_CHARS:
        raise RolloutError(f"'detail' must be a string of at most {MAX_DETAIL_CHARS} characters")
    agreement = doc.get("agreement")
    if agreement is not None:
        if not isinstance(agreement, dict) or set(agreement) != set(AGREEMENT_FIELDS):
            raise RolloutError(f"'agreement' must hold exactly {', '.join(AGREEMENT_FIELDS)}")
        agreement = {name: _int(agreement, name, 0, 2**40) for name in AGREEMENT_FIELDS}
    return ModelReport(device=_text(doc, "device"), deployment=_int(doc, "deployment", 1, 2**62), sha256=sha256,
                       outcome=outcome, ts=_number(doc, "ts"), detail=detail, agreement=agreement)


def agreement_ratio(agreement: dict[str, int]) -> float | None:
    """2 x matched / (current + candidate boxes); None before any box was seen."""
    boxes = agreement["current_boxes"] + agreement["candidate_boxes"]
    return 2 * agreement["matched_boxes"] / boxes if boxes else None


# --- field helpers (the same rules as edge.contract.wire, raising RolloutError) --------------------


def _text(doc: dict, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_CHARS * 2:
        raise RolloutError(f"{key!r} must be a non-empty string of at most {MAX_NAME_CHARS * 2} characters")
    return value


def _int(doc: dict, key: str, low: int, high: int) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RolloutError(f"{key!r} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _number(doc: dict, key: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        raise RolloutError(f"{key!r} must be a finite number, got {value!r}")
    return float(value)
