"""ZeroMQ sender: frame messages to the collector, with a bounded window of unacknowledged ones.

A DEALER socket sends ``[header, jpeg]`` and reads one reply per message. At most ``window``
messages are in flight (``has_room``). A message that has no reply after ``ack_timeout_s`` is sent
again with doubling back-off: the collector treats a repeated (device, seq) as a duplicate and acks
it, so a retransmission never stores a frame twice. A typed rejection is final: the frame is
counted and logged, not retried. ``poll`` returns the sequence numbers that got their final answer,
so the caller can drop them from its spool.

Failover: given several endpoints (collector nodes sharing one database), the sender talks to one
at a time. When it has frames in flight and no frame reply came from that node for
``failover_after_s`` (counted from the last reply, from when the window stopped being empty, or
from the switch to that node, whichever is latest), it closes the connection, connects to the next
endpoint in the list (round robin) with that node's server key and sends every frame in flight
again. Each further switch before the window has drained once doubles that wait (up to 8x): a
node that is only slow is not abandoned over and over (each switch resends the whole window, more
work for the nodes), and an outage of every node is not logged every few seconds. The database's
(device, seq) key makes a frame the old node did store a duplicate at the new one, so nothing is
stored twice; nothing leaves the window without its answer, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

from edge.contract.credentials import DeviceCredentials
from edge.contract.wire import DeviceStatus, FrameHeader, WireError, decode_reply, encode_frame, encode_status

log = logging.getLogger("edge.sender")

MAX_RETRY_DELAY_S = 30.0
FAILOVER_ACK_TIMEOUTS = 3
"""Without an explicit ``failover_after_s``: switch nodes after this many ack timeouts of silence."""
SILENCE_WARNING_S = 10.0
"""Frames waiting this long without any answer get a warning (again every ``SILENCE_REPEAT_S``), so an
agent started before its collector, or pointed at the wrong address, says so instead of nothing."""
SILENCE_REPEAT_S = 30.0
MAX_FAILOVER_DOUBLINGS = 3
"""Consecutive switches (the window never drained between them) wait at most 2**3 x ``failover_after_s``."""


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
    failovers: int = 0
    """Switches from a silent collector node to the next endpoint."""


class FrameSender:
    def __init__(
        self,
        endpoint: str | Sequence[str],
        credentials: DeviceCredentials | None,
        window: int = 32,
        ack_timeout_s: float = 5.0,
        context: zmq.Context | None = None,
        failover_after_s: float | None = None,
        on_offer: Callable[[dict], None] | None = None,
    ):
        """
        Args:
            endpoint: the collector's ingest address, e.g. ``tcp://collector:5555``, or several
                nodes' addresses in the order to try them.
            credentials: CURVE keys (each endpoint's server key from
                :meth:`~edge.contract.credentials.DeviceCredentials.collectors_for`); ``None`` only
                for an explicitly insecure setup.
            window: most messages sent but not yet answered. Larger hides more round-trip time on
                slow links, at the cost of more memory and more retransmissions after an outage.
            ack_timeout_s: how long to wait for a reply before sending again. Shorter recovers
                faster from a lost connection, but retransmits more on a slow collector.
            failover_after_s: with several endpoints, how long frames may wait without a frame reply
                before the sender moves to the next node (default: 3 ack timeouts; doubled for each
                further switch until the window drains, see the module docstring). Shorter
                leaves a dead node sooner, but also leaves a node that is only slow (each switch
                resends the whole window).
            on_offer: called (on the thread that polls) with the ``offer`` of any reply that
                carries one (a model rollout, :mod:`edge.contract.rollout`), unchecked; it must
                not block, since replies wait behind it.
        """
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.endpoints = (endpoint,) if isinstance(endpoint, str) else tuple(endpoint)
        if not self.endpoints:
            raise ValueError("expected at least one endpoint")
        self._server_keys = ([c.public_key for c in credentials.collectors_for(self.endpoints)]
                             if credentials is not None else [None] * len(self.endpoints))
        self._credentials = credentials
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.failover_after_s = FAILOVER_ACK_TIMEOUTS * ack_timeout_s if failover_after_s is None else failover_after_s
        if self.failover_after_s <= 0:
            raise ValueError(f"failover_after_s must be above 0, got {self.failover_after_s}")
        self.counts = SenderCounts()
        self.on_offer = on_offer
        self._in_flight: dict[int, _InFlight] = {}
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._current = 0
        self._failover_streak = 0
        """Switches since the window was last empty."""
        self._open()

    @property
    def endpoint(self) -> str:
        """The endpoint in use."""
        return self.endpoints[self._current]

    def _open(self) -> None:
        """Connect a new socket to the current endpoint."""
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        # Queue only on connected peers: a message written into a pipe that is torn down would be
        # lost silently; with IMMEDIATE it waits here and the retransmit timer covers the rest.
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.setsockopt(zmq.RECONNECT_IVL, 100)
        self._socket.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        if self._credentials is not None:
            self._socket.curve_secretkey = self._credentials.device_secret_key.encode()
            self._socket.curve_publickey = self._credentials.device_public_key.encode()
            self._socket.curve_serverkey = self._server_keys[self._current].encode()
        # Connection events: resend at once after a reconnect instead of waiting out the back-off,
        # and say clearly when the collector refuses this device's key.
        self._monitor = self._socket.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        )
        self.connected = False
        self._ever_connected = False
        self._handshake_failure_logged = False
        self._disconnected_at: float | None = None
        self._last_progress = time.monotonic()
        """The latest of: a frame reply from this node, the window becoming non-empty, the switch here."""
        self._silence_said_at: float | None = None
        """When the last "no answer" warning went out (None: none for the current silence)."""
        self._socket.connect(self.endpoint)

    def _close_socket(self) -> None:
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        self._socket.close(linger=0)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def has_room(self) -> bool:
        return len(self._in_flight) < self.window

    def submit(self, seq: int, parts: list[bytes]) -> None:
        """Send an encoded frame message now (the caller checks :attr:`has_room` first)."""
        if seq in self._in_flight:
            return
        if not self._in_flight:
            self._last_progress = time.monotonic()  # silence counts only while something waits
        self._in_flight[seq] = _InFlight(parts, retry_delay_s=self.ack_timeout_s)
        self._transmit(seq)
        self.counts.sent += 1

    def send(self, header: FrameHeader, jpeg: bytes, stop: threading.Event | None = None) -> bool:
        """Encode and send one frame, first waiting (and handling replies) while the window is full.

        Returns False, without sending, if ``stop`` is set while waiting for room in the window.
        """
        while not self.has_room:
            if stop is not None and stop.is_set():
                return False
            self.poll(timeout_s=0.2)
        self.submit(header.seq, encode_frame(header, jpeg))
        self.poll(timeout_s=0)
        return True

    def send_status(self, status: DeviceStatus) -> None:
        """Send a heartbeat; dropped quietly when the collector is not connected (the next one follows)."""
        try:
            self._socket.send_multipart(encode_status(status), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def poll(self, timeout_s: float) -> list[int]:
        """Handle the replies that arrive within ``timeout_s``, then retransmit overdue messages.

        Returns the sequence numbers answered for good (acked or rejected) in this call.
        """
        deadline = time.monotonic() + timeout_s
        answered: list[int] = []
        self._handle_connection_events()
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
                seq = self._handle_reply(raw)
                if seq is not None:
                    answered.append(seq)
            if time.monotonic() >= deadline:
                break
        self._fail_over_if_silent()
        self._say_if_silent()
        self._retransmit_overdue()
        return answered

    def flush(self, timeout_s: float) -> bool:
        """Wait until every sent message is answered; False if some are still open at the deadline."""
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            self.poll(timeout_s=min(0.2, max(0.0, deadline - time.monotonic())))
        return not self._in_flight

    def close(self) -> None:
        self._close_socket()
        if self._own_context:
            self._context.term()

    def _handle_reply(self, raw: bytes) -> int | None:
        """Account for one reply; the sequence number it settles, if any."""
        try:
            reply = decode_reply(raw)
        except WireError as exc:
            log.warning("ignoring a reply the collector should not have sent: %s", exc)
            return None
        if reply.offer is not None and self.on_offer is not None:
            self.on_offer(reply.offer)
        if reply.seq is None:
            if not reply.ok:
                log.warning("collector rejected a message it could not attribute: %s %s", reply.status, reply.detail)
            return None  # the answer to a status message
        self._last_progress = time.monotonic()  # this node answers frames
        if reply.seq not in self._in_flight:
            return None  # a late answer to a message already answered (the reply to a retransmission)
        del self._in_flight[reply.seq]
        if not self._in_flight:
            self._failover_streak = 0  # all answered: the next silence is news again
        if reply.ok:
            self.counts.acknowledged += 1
            if reply.status == "duplicate":
                self.counts.duplicates += 1
        else:
            self.counts.rejected[reply.status] += 1
            log.warning("collector rejected frame seq=%d: %s %s", reply.seq, reply.status, reply.detail)
        return reply.seq

    def _handle_connection_events(self) -> None:
        while True:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)["event"]
            except zmq.Again:
                return
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connected = True
                self._handshake_failure_logged = False
                log.info("%s %s", "reconnected to" if self._ever_connected else "connected to", self.endpoint)
                self._ever_connected = True
                # What went into the old connection before it dropped may have died with it: send it
                # again now rather than after the back-off. (Nothing to resend on a first connection.)
                if self._disconnected_at is not None:
                    for item in self._in_flight.values():
                        if item.sent_at is not None and item.sent_at <= self._disconnected_at:
                            self.counts.retransmits += 1
                            item.sent_at = None
                            item.retry_delay_s = self.ack_timeout_s
            elif event == zmq.EVENT_DISCONNECTED:
                self._disconnected_at = time.monotonic()
                if self.connected:
                    log.warning("lost the connection to %s; retrying (frames wait in the spool)", self.endpoint)
                self.connected = False
            elif not self._handshake_failure_logged:
                # Logged once per failing streak: the socket retries every few seconds.
                self._handshake_failure_logged = True
                if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    log.error("the collector at %s refused this device's key (unknown or revoked device?)",
                              self.endpoint)
                else:
                    log.error("handshake with %s failed: wrong collector key or not an edgelabel collector "
                              "(or one side runs --insecure and the other does not)", self.endpoint)

    def _say_if_silent(self) -> None:
        if not self._in_flight:
            self._silence_said_at = None
            return
        now = time.monotonic()
        silent_s = now - self._last_progress
        if silent_s < SILENCE_WARNING_S:
            return
        if self._silence_said_at is not None and now - self._silence_said_at < SILENCE_REPEAT_S:
            return
        self._silence_said_at = now
        log.warning("no answer from %s for %.0f s; %d frame(s) wait and stay spooled until it answers "
                    "(is the collector running and reachable there?)", self.endpoint, silent_s, len(self._in_flight))

    def _fail_over_if_silent(self) -> None:
        """Move to the next endpoint when this one left frames unanswered for ``failover_after_s``."""
        if len(self.endpoints) < 2 or not self._in_flight:
            return
        silent_s = time.monotonic() - self._last_progress
        if silent_s < self.failover_after_s * 2 ** min(self._failover_streak, MAX_FAILOVER_DOUBLINGS):
            return
        silent_endpoint = self.endpoint
        self._close_socket()  # replies still on their way from the old node are dropped with it
        self._current = (self._current + 1) % len(self.endpoints)
        self._failover_streak += 1
        self.counts.failovers += 1
        log.warning("no ack from %s for %.1f s; switching to %s (%d frame(s) in flight)",
                    silent_endpoint, silent_s, self.endpoint, len(self._in_flight))
        self._open()
        # Everything in flight goes to the new node (as soon as it connects): the old one may or
        # may not have stored it, and the shared database turns a repeat into a duplicate ack.
        for item in self._in_flight.values():
            if item.sent_at is not None:
                self.counts.retransmits += 1
            item.sent_at = None
            item.retry_delay_s = self.ack_timeout_s

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
