"""ZeroMQ sender: frame messages to the collector, with a bounded window of unacknowledged ones.

A DEALER socket sends ``[header, jpeg]`` and reads one reply per message. At most ``window``
messages are in flight; ``send`` blocks (processing replies) while the window is full. A message
that has no reply after ``ack_timeout_s`` is sent again with doubling back-off: the collector
treats a repeated (device, seq) as a duplicate and acks it, so a retransmission never stores a
frame twice. A typed rejection is final: the frame is counted and logged, not retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import zmq

from edge.credentials import DeviceCredentials
from edge.wire import FrameHeader, WireError, decode_reply, encode_frame

log = logging.getLogger("edge.sender")

MAX_RETRY_DELAY_S = 30.0


@dataclass
class _InFlight:
    parts: list[bytes]
    retry_delay_s: float
    sent_at: float | None = None
    """When the socket last took the message; None while it could not take it yet."""


@dataclass
class SenderCounts:
    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    """Acks for frames the collector already had (after a retransmission or a restart)."""
    retransmits: int = 0
    rejected: Counter = field(default_factory=Counter)
    """Rejections by code."""


class FrameSender:
    def __init__(
        self,
        endpoint: str,
        credentials: DeviceCredentials | None,
        window: int = 32,
        ack_timeout_s: float = 5.0,
        context: zmq.Context | None = None,
    ):
        """
        Args:
            endpoint: the collector's ingest address, e.g. ``tcp://collector:5555``.
            credentials: CURVE keys; ``None`` only for an explicitly insecure setup.
            window: most messages sent but not yet answered. Larger hides more round-trip time on
                slow links, at the cost of more memory and more retransmissions after an outage.
            ack_timeout_s: how long to wait for a reply before sending again. Shorter recovers
                faster from a lost connection, but retransmits more on a slow collector.
        """
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.endpoint = endpoint
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.counts = SenderCounts()
        self._in_flight: dict[int, _InFlight] = {}
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        # Queue only on connected peers: a message written into a pipe that is torn down would be
        # lost silently; with IMMEDIATE it waits here and the retransmit timer covers the rest.
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.setsockopt(zmq.RECONNECT_IVL, 100)
        self._socket.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        if credentials is not None:
            self._socket.curve_secretkey = credentials.device_secret_key.encode()
            self._socket.curve_publickey = credentials.device_public_key.encode()
            self._socket.curve_serverkey = credentials.collector_public_key.encode()
        self._socket.connect(endpoint)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def send(self, header: FrameHeader, jpeg: bytes, stop: threading.Event | None = None) -> bool:
        """Send one frame, first waiting (and handling replies) while the window is full.

        Returns False, without sending, if ``stop`` is set while waiting for room in the window.
        """
        while len(self._in_flight) >= self.window:
            if stop is not None and stop.is_set():
                return False
            self.poll(timeout_s=0.2)
        parts = encode_frame(header, jpeg)
        self._in_flight[header.seq] = _InFlight(parts, retry_delay_s=self.ack_timeout_s)
        self._transmit(header.seq)
        self.counts.sent += 1
        self.poll(timeout_s=0)
        return True

    def poll(self, timeout_s: float) -> None:
        """Handle the replies that arrive within ``timeout_s``, then retransmit overdue messages."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not self._socket.poll(remaining_ms, zmq.POLLIN):
                break
            # Drain everything that is already here before checking the clock again.
            while True:
                try:
                    raw = self._socket.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._handle_reply(raw)
            if time.monotonic() >= deadline:
                break
        self._retransmit_overdue()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every sent message is answered; False if some are still open at the deadline."""
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            self.poll(timeout_s=min(0.2, max(0.0, deadline - time.monotonic())))
        return not self._in_flight

    def close(self) -> None:
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()

    def _handle_reply(self, raw: bytes) -> None:
        try:
            reply = decode_reply(raw)
        except WireError as exc:
            log.warning("ignoring a reply the collector should not have sent: %s", exc)
            return
        if reply.seq is None or reply.seq not in self._in_flight:
            # A late answer to a message already answered (e.g. the reply to a retransmission).
            return
        del self._in_flight[reply.seq]
        if reply.ok:
            self.counts.acknowledged += 1
            if reply.status == "duplicate":
                self.counts.duplicates += 1
        else:
            self.counts.rejected[reply.status] += 1
            log.warning("collector rejected frame seq=%d: %s %s", reply.seq, reply.status, reply.detail)

    def _retransmit_overdue(self) -> None:
        now = time.monotonic()
        for seq, item in self._in_flight.items():
            if item.sent_at is None:
                self._transmit(seq)
            elif now - item.sent_at >= item.retry_delay_s:
                self.counts.retransmits += 1
                if self.counts.retransmits == 1 or self.counts.retransmits % 100 == 0:
                    log.warning(
                        "no ack from %s for %.1f s; retransmitting (%d retransmissions so far)",
                        self.endpoint, item.retry_delay_s, self.counts.retransmits,
                    )
                item.retry_delay_s = min(item.retry_delay_s * 2, MAX_RETRY_DELAY_S)
                self._transmit(seq)

    def _transmit(self, seq: int) -> None:
        item = self._in_flight[seq]
        try:
            self._socket.send_multipart(item.parts, zmq.NOBLOCK, copy=False)
        except zmq.Again:
            # Not connected yet (IMMEDIATE) or the pipe is full: the next poll tries again.
            item.sent_at = None
            return
        item.sent_at = time.monotonic()
