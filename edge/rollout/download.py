"""Fetching an offered model file in chunks, resumable, checked against the offer's SHA-256."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from edge.contract.downloads import sha256_of
from edge.contract.rollout import (
    DEFAULT_CHUNK_BYTES,
    ChunkRequest,
    ModelOffer,
    RolloutError,
    decode_chunk_reply,
    encode_chunk_request,
)
from edge.contract.wire import WireError, decode_reply
from edge.rollout.channel import ChannelError, RolloutChannel


class DownloadFailed(Exception):
    """The collector would not or could not serve the file (``failed_download``)."""


class Interrupted(Exception):
    """The agent is stopping: the partial file stays for the next run to continue."""


class HashMismatch(Exception):
    """The bytes arrived but are not the offered file (``refused_hash``)."""


def download(channel: RolloutChannel, offer: ModelOffer, partial: Path, target: Path,
             chunk_bytes: int = DEFAULT_CHUNK_BYTES, stopping: Callable[[], bool] = lambda: False) -> int:
    """Fetch ``offer``'s file into ``partial`` (continuing what an earlier attempt left there),
    check its size and SHA-256, and rename it to ``target``. Returns the bytes fetched now."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    offset = partial.stat().st_size if partial.exists() else 0
    if offset > offer.size_bytes:  # not a prefix of this file: start over
        partial.unlink()
        offset = 0
    fetched = 0
    with open(partial, "ab") as out:
        while offset < offer.size_bytes:
            if stopping():
                raise Interrupted(f"stopped at {offset} of {offer.size_bytes} bytes")
            length = min(chunk_bytes, offer.size_bytes - offset)
            data = _chunk(channel, ChunkRequest(offer.device, offer.sha256, offset, length), offer)
            out.write(data)
            offset += len(data)
            fetched += len(data)
        out.flush()
        os.fsync(out.fileno())
    digest = sha256_of(partial)
    if digest != offer.sha256:
        partial.unlink()  # a resumed download must not build on bytes that were wrong
        raise HashMismatch(f"the downloaded file has SHA-256 {digest}, the offer says {offer.sha256}")
    os.replace(partial, target)
    return fetched


def _chunk(channel: RolloutChannel, request: ChunkRequest, offer: ModelOffer) -> bytes:
    try:
        parts = channel.request(encode_chunk_request(request))
    except ChannelError as exc:
        raise DownloadFailed(str(exc)) from None
    if len(parts) == 1:
        try:
            reply = decode_reply(parts[0])
        except WireError as exc:
            raise DownloadFailed(f"unreadable answer to a chunk request: {exc}") from None
        raise DownloadFailed(f"the collector refused the chunk at {request.offset}: {reply.status} {reply.detail}"
                             .rstrip())
    try:
        reply, data = decode_chunk_reply(parts)
    except RolloutError as exc:
        raise DownloadFailed(f"bad chunk reply: {exc}") from None
    if (reply.sha256, reply.offset, reply.total) != (offer.sha256, request.offset, offer.size_bytes):
        raise DownloadFailed(f"chunk reply for {reply.sha256[:8]} at {reply.offset} of {reply.total} bytes, asked "
                             f"for {offer.sha256[:8]} at {request.offset} of {offer.size_bytes}")
    if not 0 < len(data) <= request.length:
        raise DownloadFailed(f"chunk at {request.offset} has {len(data)} bytes, asked for {request.length}")
    return data

