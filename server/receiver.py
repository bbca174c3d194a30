"""The ingest loop: a ROUTER socket that validates, stores and answers every frame message.

This thread is the database's single writer. It takes the messages that are waiting (up to
``batch_max``), validates each (the JPEG decode check also yields the frame's duplicate-detection
signature, computed in the same worker thread), stores the valid ones in one transaction (which
also finds their duplicates and queues the rest, see :meth:`server.datadir.DataDir.ingest_frames`),
and only then sends their acks: an ack means the frame and its labels are committed. Invalid messages get a typed
rejection at once and are counted per device and reason. Nothing a sender does can stop the loop.

When storing fails because the database or the media store is unreachable (a
:class:`~server.errors.StoreUnavailableError`: down, restarting, locked, full), the batch gets no
answer at all: the agents keep its frames spooled and retransmit them, and the first batch after
the outage stores them (see :mod:`server.ingest.outage`, which logs the outage once). Any other
failure (data the database refuses, a bug) would fail the same way again, so the batch is rejected
as ``internal`` rather than retried for ever.

The same socket carries model rollouts (:mod:`server.models.rollout`): a heartbeat's ``noted``
carries the device's pending model offer, and the device's ``model_chunk`` requests and
``model_report`` messages are answered in the order they came, between the frames of a batch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import zmq

from edge.contract import wire
from edge.contract.limits import MAX_HEADER_BYTES, MAX_IMAGE_BYTES
from edge.contract.rollout import ChunkRequest, ModelReport
from edge.contract.wire import DeviceStatus, FrameHeader, Reply, WireError
from server.datadir import DataDir
from server.dedup.frame_signature import FrameSignature, signature_of_gray
from server.errors import CollectorError, StoreUnavailableError
from server.handshake_log import HandshakeFailures
from server.images import gray_for_signature, verify_jpeg
from server.ingest.outage import OutageLog
from server.keys import DeviceAuthenticator, DeviceSnapshot, KeyStore, split_user_id
from server.models.rollout import RolloutDesk
from server.redaction_policy import check_redaction

log = logging.getLogger("server.receiver")
_FAILED = object()
"""What :meth:`Receiver._rollout_step` returns for a step that failed (and was answered, or not)."""

# ZeroMQ drops (and disconnects) any single message part larger than this before it reaches us,
# which bounds memory under a flood; parts between the wire limits and this get a typed rejection.
MAX_PART_BYTES = 2 * MAX_IMAGE_BYTES
SUMMARY_EVERY_S = 30.0
RECEIVE_HWM = 64
"""Complete messages queued per connection before ZeroMQ stops reading that connection's socket
(TCP then pushes back on the sender). Twice an agent's default window of unacknowledged frames, so
a well-behaved agent never meets it; it bounds what one connection of valid two-part messages
can hold: 64 x (MAX_HEADER_BYTES + MAX_PART_BYTES). libzmq 4.3 has no bound on the number of
parts of one message, though: see README, "Security"."""


@dataclass
class IngestCounts:
    received: int = 0
    stored: int = 0
    retransmits: int = 0
    """Messages of a (device, seq) already stored, acked again without storing: not content
    duplicates (those are stored frames, see ``edgelabel-collector duplicates``)."""
    statuses: int = 0
    rejected: Counter = field(default_factory=Counter)
    failed_batches: int = 0
    """Batches left unanswered because the database or the media store failed (agents retransmit them)."""


class Receiver:
    def __init__(
        self,
        store: DataDir,
        endpoint: str,
        keys: KeyStore | None,
        batch_max: int = 64,
        context: zmq.Context | None = None,
        decode_threads: int | None = None,
        rollout: RolloutDesk | None = None,
    ):
        """
        Args:
            endpoint: where to bind, e.g. ``tcp://0.0.0.0:5555``.
            keys: the key store for CURVE; ``None`` means insecure (plain TCP, device names unchecked).
            batch_max: most frames committed in one transaction. Larger batches amortise the
                fsync of a commit over more frames (more throughput) but delay the first ack.
            decode_threads: threads that decode-check JPEGs (default: one per usable core).
            rollout: offers, chunks and reports of model rollouts (default: the store's, signed
                with the data directory's model-signing key, also in insecure mode).
        """
        self.store = store
        self.endpoint = endpoint
        self.secure = keys is not None
        self.batch_max = batch_max
        self.counts = IngestCounts()
        self.outage = OutageLog(log)
        self._stop = threading.Event()
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._auth: DeviceAuthenticator | None = None
        self._keys = keys
        self.rollout = rollout or RolloutDesk(store.db, store.media, (keys or KeyStore(store.data_dir)).model_signer)
        self._decoders = ThreadPoolExecutor(max_workers=decode_threads or len(os.sched_getaffinity(0)), thread_name_prefix="jpeg-check")
        # Load the duplicate index now (rebuilt from the database), not on the first batch.
        store.prepare_ingest()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.linger = 0
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
        self._socket.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        if keys is not None:
            self._auth = DeviceAuthenticator(self._context, keys)
            self._auth.start()
            collector = keys.collector_keys()
            self._socket.curve_server = True
            self._socket.curve_secretkey = collector.secret.encode()
            self._socket.curve_publickey = collector.public.encode()
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.close()
            raise CollectorError(f"cannot listen on {endpoint}: {exc}") from None
        self.bound_endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.handshakes = HandshakeFailures(self._socket, self.bound_endpoint) if keys is not None else None

    def stop(self) -> None:
        """Ask the loop to finish the batch at hand and return (safe from any thread or signal handler)."""
        self._stop.set()

    def serve_forever(self) -> None:
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        last = IngestCounts()
        while not self._stop.is_set():
            if self._socket.poll(200, zmq.POLLIN):
                self._handle_batch(self._read_batch())
            else:
                self._flush_rejections()  # idle: persist the rejection counts
            if self.handshakes is not None:
                self.handshakes.drain()
            if time.monotonic() >= next_summary:
                next_summary += SUMMARY_EVERY_S
                last = self._log_summary(last)
        self._flush_rejections()
        self._log_summary(last)

    def close(self) -> None:
        self._decoders.shutdown(wait=True)
        if getattr(self, "handshakes", None) is not None:
            self.handshakes.close()
        self._socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        if self._own_context:
            self._context.term()

    # --- one batch ---------------------------------------------------------------------------------

    def _read_batch(self) -> list[list[zmq.Frame]]:
        messages = []
        while len(messages) < self.batch_max:
            try:
                messages.append(self._socket.recv_multipart(zmq.NOBLOCK, copy=False))
            except zmq.Again:
                break
        return messages

    def _handle_batch(self, messages: list[list[zmq.Frame]]) -> None:
        decoded_frames: list[tuple[bytes, list[zmq.Frame], FrameHeader, bytes]] = []
        # The device keys as they are now, not as they were when each connection was made: see _check_message.
        devices = self._keys.current_devices() if self._keys is not None else None
        for message in messages:
            self.counts.received += 1
            identity, parts = message[0].bytes, message[1:]
            try:
                decoded = self._check_message(parts, devices)
            except WireError as exc:
                self._reject(identity, parts, exc)
                continue
            except Exception as exc:  # a validation bug must cost one message, never the ingest loop
                log.exception("validating a message failed unexpectedly")
                self._reject(identity, parts, WireError("internal", f"collector could not check the message ({type(exc).__name__})"))
                continue
            if isinstance(decoded, DeviceStatus):
                self._note_status(identity, decoded)
            elif isinstance(decoded, ChunkRequest):
                self._serve_chunk(identity, parts, decoded)
            elif isinstance(decoded, ModelReport):
                self._note_report(identity, parts, decoded)
            else:
                decoded_frames.append((identity, parts, *decoded))
        # Decoding the JPEGs is the costly check; OpenCV releases the GIL, so decode them in parallel.
        outcomes = self._decoders.map(_decode_check, [(header, jpeg) for _, _, header, jpeg in decoded_frames])
        valid: list[tuple[bytes, FrameHeader, bytes, FrameSignature]] = []
        for (identity, parts, header, jpeg), outcome in zip(decoded_frames, outcomes):
            if isinstance(outcome, WireError):
                self._reject(identity, parts, outcome)
            else:
                valid.append((identity, header, jpeg, outcome))
        if not valid:
            return
        try:
            fresh = self.store.store_frames([(header, jpeg, signature) for _, header, jpeg, signature in valid])
        except StoreUnavailableError as exc:  # no answer: the agents retransmit
            self.counts.failed_batches += 1
            self.outage.failed(exc, len(valid))
            return
        except Exception as exc:  # a storage failure must not take the ingest loop down
            log.exception("storing a batch of %d frames failed; rejecting them as 'internal'", len(valid))
            error = WireError("internal", f"collector could not store the frame ({type(exc).__name__})")
            for identity, header, _, _ in valid:
                self.counts.rejected["internal"] += 1
                self._reply(identity, Reply.reject(header.seq, error))
            return
        self.outage.succeeded()
        for (identity, header, _, _), is_new in zip(valid, fresh):
            if is_new:
                self.counts.stored += 1
            else:
                self.counts.retransmits += 1
            self._reply(identity, Reply.ack(header.seq, duplicate=not is_new))

    def _check_message(self, parts: list[zmq.Frame], devices: DeviceSnapshot | None
                       ) -> tuple[FrameHeader, bytes] | DeviceStatus | ChunkRequest | ModelReport:
        """Everything but the JPEG decode: wire contract, and in secure mode the sender's identity,
        that its key is still allowed (a connection outlives a ``keys remove-device``) and that a
        frame carries the redactions its key requires."""
        decoded = wire.decode_message([part.buffer for part in parts])
        claimed = decoded[0].device if isinstance(decoded, tuple) else decoded.device
        if self.secure:
            user_id = parts[0].get("User-Id")
            if not user_id:
                raise WireError("unknown_device", "connection is not authenticated as a device")
            device, z85_key = split_user_id(user_id)
            if devices.name_by_key.get(z85_key) != device:
                raise WireError("unknown_device", f"the key of device {device!r} was revoked")
            if not speaks_for(device, claimed):
                raise WireError("device_mismatch", f"message names device {claimed!r}, the key belongs to {device!r}")
            if isinstance(decoded, tuple):
                check_redaction(devices, device, decoded[0])
        return decoded

    def _note_status(self, identity: bytes, status: DeviceStatus) -> None:
        self.counts.statuses += 1
        try:
            self.store.record_status(status)
        except StoreUnavailableError as exc:  # the next heartbeat follows; a reply would change nothing
            self.outage.failed(exc, 0)
            return
        except Exception:
            log.exception("could not record the status of device %r", status.device)
            self._reply(identity, Reply.reject(None, WireError("internal", "collector could not record the status")))
            return
        try:
            offer = self.rollout.offer_for(status.device)
        except Exception:  # the heartbeat is recorded; the offer follows with a later one
            log.exception("could not look up a model offer for device %r", status.device)
            offer = None
        self._reply(identity, Reply.noted(offer))

    def _serve_chunk(self, identity: bytes, parts: list[zmq.Frame], request: ChunkRequest) -> None:
        reply = self._rollout_step(identity, parts, lambda: self.rollout.chunk(request.device, request),
                                   f"serving a chunk of model {request.sha256}", "read the model")
        if reply is not _FAILED:
            try:
                self._socket.send_multipart([identity, *reply], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # gone or not reading: it asks again

    def _note_report(self, identity: bytes, parts: list[zmq.Frame], report: ModelReport) -> None:
        done = self._rollout_step(identity, parts, lambda: self.rollout.note_report(report),
                                  f"recording a model report of device {report.device!r}", "record the report")
        if done is not _FAILED:
            self._reply(identity, Reply.noted())

    def _rollout_step(self, identity: bytes, parts: list[zmq.Frame], step, what: str, could_not: str):
        """``step()``'s result, or ``_FAILED``: a typed rejection for the device's own error
        (or a bug, as ``internal``), no answer while the database or media store is down (the
        device asks again)."""
        try:
            return step()
        except WireError as exc:
            self._reject(identity, parts, exc)
        except StoreUnavailableError as exc:
            self.outage.failed(exc, 0)
        except Exception as exc:
            log.exception("%s failed", what)
            self._reject(identity, parts, WireError("internal", f"collector could not {could_not} "
                                                                f"({type(exc).__name__})"))
        return _FAILED

    def _reject(self, identity: bytes, parts: list[zmq.Frame], error: WireError) -> None:
        self.counts.rejected[error.code] += 1
        seq = wire.peek_seq(parts[0].bytes) if parts and len(parts[0]) <= MAX_HEADER_BYTES else None
        user_id = parts[0].get("User-Id") if (parts and self.secure) else None
        device = split_user_id(user_id)[0] if user_id else None
        try:
            self.store.count_rejection(device, error.code, error.detail)
        except Exception:
            log.exception("could not record a rejection")
        if self.counts.rejected[error.code] <= 3 or self.counts.rejected[error.code] % 1000 == 0:
            log.warning("rejected a message (%s, total %d): %s", error.code, self.counts.rejected[error.code], error.detail)
        self._reply(identity, Reply.reject(seq, error))

    def _flush_rejections(self) -> None:
        try:
            self.store.flush_rejections()
        except StoreUnavailableError as exc:  # the counts stay buffered until the database answers again
            self.outage.failed(exc, 0)
        except Exception:
            log.exception("could not record rejection counts; will retry")

    def _reply(self, identity: bytes, reply: Reply) -> None:
        try:
            self._socket.send_multipart([identity, wire.encode_reply(reply)], zmq.NOBLOCK)
        except zmq.ZMQError:
            # The peer is gone or not reading; it will retransmit and get its answer then.
            pass

    def _log_summary(self, last: IngestCounts) -> IngestCounts:
        now = IngestCounts(
            self.counts.received, self.counts.stored, self.counts.retransmits, self.counts.statuses,
            Counter(self.counts.rejected),
        )
        if now.received != last.received:
            rejected = now.rejected - last.rejected
            log.info(
                "ingest: %d messages, %d frames stored, %d retransmits of stored frames, %d rejected%s",
                now.received - last.received,
                now.stored - last.stored,
                now.retransmits - last.retransmits,
                sum(rejected.values()),
                f" ({', '.join(f'{k} {v}' for k, v in sorted(rejected.items()))})" if rejected else "",
            )
        return now


def speaks_for(key_device: str, claimed: str) -> bool:
    """A device's key speaks for the device and for its cameras, ``{device}/{camera}`` (one key
    per agent, each camera its own device). Key names hold no ``/``, so no key speaks for
    another key's cameras."""
    if claimed == key_device:
        return True
    camera = claimed.removeprefix(key_device + wire.CAMERA_SEPARATOR)
    return wire.CAMERA_SEPARATOR not in key_device and camera != claimed and bool(camera) and wire.CAMERA_SEPARATOR not in camera


def _decode_check(item: tuple[FrameHeader, bytes]) -> WireError | FrameSignature:
    """The decode check, and the frame's signature from the image it decoded (or why it failed)."""
    header, jpeg = item
    try:
        return signature_of_gray(gray_for_signature(jpeg, verify_jpeg(jpeg, header.width, header.height)))
    except WireError as exc:
        return exc
    except Exception as exc:  # see _handle_batch: a bug costs one message
        log.exception("decoding a JPEG failed unexpectedly")
        return WireError("internal", f"collector could not check the image ({type(exc).__name__})")
