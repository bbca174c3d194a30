"""The receiver's side of a model rollout (:mod:`edge.contract.rollout`): signed offers in heartbeat
replies, file chunks for devices the model is deployed to, and the devices' reports.

The receiver calls this from its ingest loop, so what it does per message is small: one indexed
query, a signature made once per deployment, and chunks cut from the file held in memory (the
files being rolled out, up to :data:`MODEL_CACHE_BYTES`; a file is read from the media store once,
not once per chunk).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.contract.rollout import ChunkReply, ChunkRequest, ModelOffer, ModelReport, encode_chunk_reply, signed_bytes
from edge.contract.wire import WireError
from server.db import Database
from server.media import MediaBackend
from server.models.deployments import (
    DeploymentMismatch,
    agent_of,
    may_download,
    pending_deployment,
    record_report,
)

log = logging.getLogger("server.rollout")

MODEL_CACHE_BYTES = 640 * 1024 * 1024
"""Model files kept in memory for serving chunks: room for the largest one a rollout carries
(:data:`edge.contract.rollout.MAX_MODEL_BYTES`) and a smaller one beside it."""
_MAX_SIGNED_OFFERS = 4096


def sign_offer(key: Ed25519PrivateKey, offer: ModelOffer) -> ModelOffer:
    """``offer`` with its Ed25519 signature over :func:`edge.contract.rollout.signed_bytes`."""
    return ModelOffer(**{**offer.to_json(), "signature": key.sign(signed_bytes(offer)).hex()})


class RolloutDesk:
    def __init__(self, db: Database, media: MediaBackend, signer: Callable[[], Ed25519PrivateKey],
                 cache_bytes: int = MODEL_CACHE_BYTES):
        """``signer``: returns the model-signing key; called at the first offer, so a collector
        nobody deploys to never needs one."""
        self.db = db
        self.media = media
        self._signer = signer
        self._key: Ed25519PrivateKey | None = None
        self._signed: dict[int, dict] = {}
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._cache_bytes = cache_bytes

    def offer_for(self, device: str) -> dict | None:
        """The signed offer (reply JSON) of ``device``'s pending deployment (a camera's: its
        agent's), or None."""
        with self.db.read("look up the device's pending model deployment") as conn:
            deployment = pending_deployment(conn, agent_of(device))
        if deployment is None:
            return None
        offer = self._signed.get(deployment.id)
        if offer is None:
            if self._key is None:
                self._key = self._signer()
            if len(self._signed) >= _MAX_SIGNED_OFFERS:
                self._signed.clear()
            offer = self._signed[deployment.id] = sign_offer(self._key, deployment.offer()).to_json()
            log.info("offering deployment %d (%s, %s) to device %s", deployment.id, deployment.name,
                     deployment.mode, device)
        return offer

    def chunk(self, device: str, request: ChunkRequest) -> list[bytes]:
        """The reply parts for ``device``'s chunk request; raises :class:`WireError`
        (``model_unavailable``) when that file is not deployed to that device."""
        with self.db.read("check a model download") as conn:
            allowed = may_download(conn, device, request.sha256)
        if not allowed:
            raise WireError("model_unavailable", f"model {request.sha256[:12]} is not deployed to device {device!r}")
        data = self._file(request.sha256)
        if request.offset >= len(data):
            raise WireError("bad_header", f"offset {request.offset} is past the end of the {len(data)}-byte file")
        return encode_chunk_reply(ChunkReply(request.sha256, request.offset, len(data)),
                                  data[request.offset:request.offset + request.length])

    def note_report(self, report: ModelReport) -> None:
        """Store ``report`` and log its outcome once per deployment; raises :class:`WireError`
        (``bad_header``) for a report of another device's deployment or of another file."""
        try:
            with self.db.write("record a model report") as conn:
                deployment, new_outcome = record_report(conn, report)
        except DeploymentMismatch as exc:
            raise WireError("bad_header", str(exc)) from None
        if new_outcome:
            detail = f" ({report.detail})" if report.detail else ""
            log.info("device %s: deployment %d %s %s%s", report.device, deployment.id, deployment.name,
                     report.outcome, detail)

    def _file(self, sha256: str) -> bytes:
        data = self._files.get(sha256)
        if data is not None:
            self._files.move_to_end(sha256)
            return data
        data = self.media.get(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            log.error("the stored model file %s does not match its SHA-256: not serving it", sha256)
            raise WireError("model_unavailable", f"the collector's copy of model {sha256[:12]} is damaged")
        self._files[sha256] = data
        while sum(len(kept) for kept in self._files.values()) > self._cache_bytes and len(self._files) > 1:
            self._files.popitem(last=False)
        return data
